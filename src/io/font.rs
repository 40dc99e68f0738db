//! The font of every plot: DejaVu Sans, embedded (no system fonts needed), registered with
//! plotters as "sans-serif".

/// Registers the embedded font (once per process).
pub fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ =
            plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, dejavu::sans::regular());
    });
}
