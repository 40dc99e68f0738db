//! HTTP routes of `s2f serve` (axum): the Open Inference Protocol's health, metadata and infer
//! endpoints, the DNA-string route and `/metrics`. Every error is a JSON `{"error": …}` with a
//! 4xx status for a bad request (5xx only when the engine itself fails or the queue is full).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::batcher::{Active, SubmitError};
use super::metrics::Metrics;
use super::model::{ServedModel, TensorInfo};
use super::protocol::{self, BadRequest, Tensor, TensorData, HEADER_LENGTH};

/// Limits on requests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body in bytes.
    pub max_body: usize,
    /// Most sequences in one request.
    pub max_sequences: usize,
    /// Largest response (outputs of one request) in bytes.
    pub max_output: u64,
}

/// What the handlers share.
pub struct AppState {
    /// Models by name.
    pub models: BTreeMap<String, ServedModel>,
    /// Metrics.
    pub metrics: Metrics,
    /// Limits.
    pub limits: Limits,
}

/// An error answer: status and message.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    fn bad(msg: impl Into<String>) -> Self {
        Self(StatusCode::BAD_REQUEST, msg.into())
    }
}

impl From<BadRequest> for ApiError {
    fn from(e: BadRequest) -> Self {
        Self::bad(e.0)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

type Shared = Arc<AppState>;

/// The router over `state`.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/v2/health/live", get(|| async { Json(json!({ "live": true })) }))
        .route("/v2/health/ready", get(|| async { Json(json!({ "ready": true })) }))
        .route("/v2", get(server_metadata))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/versions/{version}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/versions/{version}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(infer))
        .route("/v2/models/{name}/versions/{version}/infer", post(infer_version))
        .route("/s2f/models/{name}/sequences", post(sequences))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such endpoint".into()) })
        .with_state(state)
}

async fn server_metadata() -> Json<Value> {
    Json(json!({
        "name": "s2f",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data", "s2f_sequences"],
    }))
}

fn find<'a>(state: &'a AppState, name: &str) -> Result<&'a ServedModel, ApiError> {
    state.models.get(name).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!(
                "unknown model {name:?}; this server has {}",
                state.models.keys().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

fn check_version(version: &str) -> Result<(), ApiError> {
    if version == "1" {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("unknown model version {version:?}; every model has version \"1\""),
        ))
    }
}

fn tensor_json(t: &TensorInfo) -> Value {
    json!({ "name": t.name, "datatype": "FP32", "shape": t.shape })
}

/// The model named in a route's `{name}`, after checking its `{version}` when the route has one.
fn versioned<'a>(state: &'a AppState, params: &HashMap<String, String>) -> Result<&'a ServedModel, ApiError> {
    if let Some(v) = params.get("version") {
        check_version(v)?;
    }
    find(state, params.get("name").map(String::as_str).unwrap_or_default())
}

async fn model_metadata(
    State(state): State<Shared>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let m = versioned(&state, &params)?;
    let tracks: serde_json::Map<String, Value> =
        m.outputs.iter().zip(&m.tracks).map(|(o, t)| (o.name.clone(), json!(t))).collect();
    Ok(Json(json!({
        "name": m.name,
        "versions": ["1"],
        "platform": "s2f",
        "inputs": m.inputs.iter().map(tensor_json).collect::<Vec<_>>(),
        "outputs": m.outputs.iter().map(tensor_json).collect::<Vec<_>>(),
        "s2f": { "engine": m.engine, "tracks": tracks },
    })))
}

async fn model_ready(
    State(state): State<Shared>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let m = versioned(&state, &params)?;
    Ok(Json(json!({ "name": m.name, "ready": true })))
}

async fn metrics(State(state): State<Shared>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

/// A body over the limit by at most this much is still read (and dropped) so that the client,
/// which sends its whole body before reading, gets the 413 instead of a reset connection.
const DRAIN: usize = 64 << 20;

/// Reads a body of at most `limit` bytes (413 beyond).
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    let too_large = || {
        ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds {} MB (--max-body-mb)", limit / (1 << 20)),
        )
    };
    if headers.get(header::CONTENT_ENCODING).is_some_and(|v| v != "identity") {
        return Err(ApiError(StatusCode::UNSUPPORTED_MEDIA_TYPE, "compressed request bodies are not supported".into()));
    }
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.saturating_add(DRAIN) as u64) {
        return Err(too_large());
    }
    tokio::time::timeout(BODY_TIMEOUT, collect(body, declared, limit)).await.map_err(|_| {
        ApiError(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {} s", BODY_TIMEOUT.as_secs()),
        )
    })?
}

/// Longest a request body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

async fn collect(body: Body, declared: Option<u64>, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    use http_body_util::BodyExt;
    let too_large = || {
        ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds {} MB (--max-body-mb)", limit / (1 << 20)),
        )
    };
    let mut body = body;
    let mut buf = Vec::with_capacity(declared.map_or(0, |n| n.min(limit as u64) as usize));
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad(format!("cannot read the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen <= limit {
                buf.extend_from_slice(&data);
            } else if seen > limit.saturating_add(DRAIN) {
                break;
            }
        }
    }
    if seen > limit {
        return Err(too_large());
    }
    Ok(buf.into())
}

/// Records a request in the metrics and passes the answer through.
fn record(state: &AppState, name: &str, endpoint: &str, result: Result<Response, ApiError>) -> Response {
    let response = result.unwrap_or_else(|e| {
        tracing::debug!(model = name, endpoint, status = e.0.as_u16(), "refused: {}", e.1);
        e.into_response()
    });
    let model = if state.models.contains_key(name) { name } else { "_unknown" };
    tracing::debug!(model, endpoint, status = response.status().as_u16(), "answered");
    state.metrics.requests.with_label_values(&[model, endpoint, response.status().as_str()]).inc();
    response
}

async fn infer(State(state): State<Shared>, Path(name): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let result = infer_inner(&state, &name, &headers, body).await;
    record(&state, &name, "infer", result)
}

async fn infer_version(
    State(state): State<Shared>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = match check_version(&version) {
        Ok(()) => infer_inner(&state, &name, &headers, body).await,
        Err(e) => Err(e),
    };
    record(&state, &name, "infer", result)
}

async fn infer_inner(state: &AppState, name: &str, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let model = find(state, name)?;
    let active = model.batcher().arrive();
    let body = read_body(body, headers, state.limits.max_body).await?;
    let header_length = match headers.get(HEADER_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| ApiError::bad(format!("{HEADER_LENGTH} is not a byte count")))?,
        ),
    };
    let parsed = protocol::parse(&body, header_length)?;
    drop(body);
    let outputs = select_outputs(model, parsed.outputs, parsed.binary_default)?;
    let values = run(state, model, parsed.inputs, active).await?;
    respond(model, parsed.id, outputs, values)
}

/// The outputs to send, in the order asked, with their binary flag.
fn select_outputs(
    model: &ServedModel,
    requested: Option<Vec<(String, bool)>>,
    binary_default: bool,
) -> Result<Vec<(usize, bool)>, ApiError> {
    match requested {
        None => Ok((0..model.outputs.len()).map(|i| (i, binary_default)).collect()),
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(k, (name, binary))| {
                if list[..k].iter().any(|(other, _)| other == name) {
                    return Err(ApiError::bad(format!("output {name:?} is requested twice")));
                }
                let (name, binary) = (name.clone(), *binary);
                model.outputs.iter().position(|o| o.name == name).map(|i| (i, binary || binary_default)).ok_or_else(
                    || {
                        ApiError::bad(format!(
                            "model {:?} has no output {name:?}; its outputs: {}",
                            model.name,
                            model.outputs.iter().map(|o| format!("{:?}", o.name)).collect::<Vec<_>>().join(", ")
                        ))
                    },
                )
            })
            .collect(),
    }
}

/// Checks the request's size, queues it and waits for its outputs.
async fn run(
    state: &AppState,
    model: &ServedModel,
    inputs: Vec<Tensor>,
    active: Active,
) -> Result<Vec<ndarray::ArrayD<f32>>, ApiError> {
    let per_seq: u64 =
        model.outputs.iter().map(|o| o.shape.iter().skip(1).map(|&d| d.max(1) as u64).product::<u64>() * 4).sum();
    let limit = state.limits.max_sequences.min((state.limits.max_output / per_seq.max(1)).max(1) as usize);
    // The batch size each input declares, checked before any input is converted.
    let n = inputs.iter().map(|t| t.shape.first().copied().unwrap_or(0)).max().unwrap_or(0);
    if n > limit {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request holds {n} sequences; this server takes at most {limit} per request for this model \
                 (--max-sequences, --max-output-mb); split it"
            ),
        ));
    }
    let (arrays, n) = model.prepare(inputs)?;
    let rx = model.batcher().submit(arrays, n, active).map_err(|e| match e {
        SubmitError::Full => ApiError(StatusCode::SERVICE_UNAVAILABLE, "the queue is full; retry later".into()),
        SubmitError::Stopped => ApiError(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down".into()),
    })?;
    match rx.await {
        Ok(Ok(values)) => Ok(values),
        Ok(Err(e)) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("engine error: {e}"))),
        Err(_) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, "the model's worker stopped".into())),
    }
}

fn respond(
    model: &ServedModel,
    id: Option<String>,
    outputs: Vec<(usize, bool)>,
    mut values: Vec<ndarray::ArrayD<f32>>,
) -> Result<Response, ApiError> {
    let mut list = Vec::with_capacity(outputs.len());
    for (i, binary) in outputs {
        let Some(v) = values.get_mut(i) else {
            return Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("the engine returned no output {i}")));
        };
        let v = std::mem::take(v);
        let shape = v.shape().to_vec();
        let data = v.as_standard_layout().iter().copied().collect::<Vec<f32>>();
        list.push((model.outputs[i].name.clone(), shape, data, binary));
    }
    let (json, binary) = protocol::encode(&model.name, id, list);
    if binary.is_empty() {
        return Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response());
    }
    let json_len = json.len();
    let mut body = json;
    body.extend_from_slice(&binary);
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(HEADER_LENGTH, HeaderValue::from(json_len));
    Ok(response)
}

/// `POST /s2f/models/{name}/sequences` with `{"sequences": ["ACGT…", …], "outputs": [names]}`:
/// DNA strings in, every (or each named) output as JSON out, in the infer response's format.
async fn sequences(State(state): State<Shared>, Path(name): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let result = sequences_inner(&state, &name, &headers, body).await;
    record(&state, &name, "sequences", result)
}

async fn sequences_inner(state: &AppState, name: &str, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Request {
        sequences: Vec<String>,
        #[serde(default)]
        outputs: Option<Vec<String>>,
    }
    let model = find(state, name)?;
    let active = model.batcher().arrive();
    let body = read_body(body, headers, state.limits.max_body).await?;
    let req: Request = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad(format!("malformed request JSON (expected {{\"sequences\": [\"ACGT…\", …]}}): {e}"))
    })?;
    let input = model.inputs.first().map(|t| t.name.clone()).unwrap_or_default();
    let n = req.sequences.len();
    let tensor = Tensor {
        name: input,
        shape: vec![n],
        data: TensorData::Bytes(req.sequences.into_iter().map(String::into_bytes).collect()),
    };
    let outputs = select_outputs(model, req.outputs.map(|o| o.into_iter().map(|n| (n, false)).collect()), false)?;
    let values = run(state, model, vec![tensor], active).await?;
    respond(model, None, outputs, values)
}
