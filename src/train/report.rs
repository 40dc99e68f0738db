//! Training reports written next to the model package:
//! - `training_log.csv`: `epoch,train_loss,valid_loss,valid_r,lr,seconds`, one row per epoch;
//! - `loss_curve.png`: training and validation loss per epoch (plotters, DejaVu Sans embedded so
//!   no system fonts are needed), the kept epoch marked;
//! - `correlations_tracks.tsv`: `set head track pearson_r n` per track, on validation and test
//!   data (r over data points × bins);
//! - `correlations_points.tsv`: `set head name pearson_r` per data point (r over its bins × tracks;
//!   NaN when the head has a single value).

use std::io::Write;
use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;
use crate::train::trainer::EpochLog;

/// Writes the per-epoch log as CSV.
pub fn write_log(path: &Path, log: &[EpochLog]) -> Result<()> {
    write_atomic(path, |w| {
        writeln!(w, "epoch,train_loss,valid_loss,valid_r,lr,seconds")?;
        for r in log {
            writeln!(
                w,
                "{},{:.6e},{:.6e},{:.6},{:.6e},{:.3}",
                r.epoch, r.train_loss, r.valid_loss, r.valid_r, r.lr, r.seconds
            )?;
        }
        Ok(())
    })
}

/// One row of a correlation table.
#[derive(Debug, Clone)]
pub struct CorrRow {
    /// `valid` or `test`.
    pub set: &'static str,
    /// Head name.
    pub head: String,
    /// Track or data-point name.
    pub name: String,
    /// Pearson r.
    pub r: f64,
    /// Values it was computed from.
    pub n: usize,
}

/// Writes a correlation table (tab-separated, header `set head <what> pearson_r n`).
pub fn write_correlations(path: &Path, what: &str, rows: &[CorrRow]) -> Result<()> {
    write_atomic(path, |w| {
        writeln!(w, "set\thead\t{what}\tpearson_r\tn")?;
        for r in rows {
            writeln!(w, "{}\t{}\t{}\t{:.6}\t{}", r.set, r.head, r.name, r.r, r.n)?;
        }
        Ok(())
    })
}

/// Draws the training and validation loss per epoch, marking the kept epoch.
pub fn plot_losses(path: &Path, log: &[EpochLog], best_epoch: usize, title: &str) -> Result<()> {
    crate::io::font::register_font();
    let tmp = path.with_extension("partial.png");
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(&tmp, (900, 560)).into_drawing_area();
        root.fill(&WHITE)?;
        let vals: Vec<f64> = log.iter().flat_map(|r| [r.train_loss, r.valid_loss]).filter(|v| v.is_finite()).collect();
        let (lo, hi) = vals.iter().fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let (lo, hi) = if vals.is_empty() { (0.0, 1.0) } else { (lo, hi) };
        let span = (hi - lo).abs().max(1e-12);
        let x_max = log.len().max(2) as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(1f64..x_max, (lo - 0.05 * span)..(hi + 0.05 * span))?;
        chart.configure_mesh().x_desc("epoch").y_desc("loss").label_style(("sans-serif", 15)).draw()?;
        let train: Vec<(f64, f64)> = log.iter().map(|r| (r.epoch as f64, r.train_loss)).collect();
        let valid: Vec<(f64, f64)> = log.iter().map(|r| (r.epoch as f64, r.valid_loss)).collect();
        chart
            .draw_series(LineSeries::new(train, BLUE.stroke_width(2)))?
            .label("training")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(valid.clone(), RED.stroke_width(2)))?
            .label("validation")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
        if let Some(&(x, y)) = valid.iter().find(|(x, _)| *x as usize == best_epoch) {
            chart
                .draw_series(std::iter::once(Circle::new((x, y), 6, RED.filled())))?
                .label(format!("kept (epoch {best_epoch})"))
                .legend(|(x, y)| Circle::new((x + 10, y), 5, RED.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| Error::Training(format!("drawing {}: {e}", path.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
