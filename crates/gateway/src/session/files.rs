//! Session files: `GET /api/v1/sessions/:id/files` lists, `POST` with
//! `{"files":[{name, content, encoding?}]}` uploads several, `PUT .../files/*path` uploads one
//! raw body, `GET .../files/*path` downloads one. Names are checked here (relative, no `..`,
//! no NUL or control characters) and again by the engine; the sandbox crate writes and reads
//! beneath the work directory without ever following a symlink, so a link the session planted
//! reads as absent.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use runnel_engine::SourceFile;
use runnel_protocol::session::{FileEntryInfo, FileList, FilesUpload};
use runnel_protocol::ErrorCode;

use super::http::{json_body, principal};
use crate::convert::{files_from_wire, validate_file_name};
use crate::error::ApiError;
use crate::http::body_error;
use crate::state::AppState;

/// `GET /api/v1/sessions/:id/files`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<FileList>, ApiError> {
    let principal = principal(&state, &headers, &uri).await?;
    let session = super::lookup(&state, &principal, &id)?;
    let files = session
        .list_files()
        .await?
        .into_iter()
        .map(|file| FileEntryInfo {
            name: file.path,
            size: file.size,
            executable: file.executable,
        })
        .collect();
    Ok(Json(FileList { files }))
}

/// `POST /api/v1/sessions/:id/files`.
pub(crate) async fn upload(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let principal = principal(&state, &headers, &uri).await?;
    let session = super::lookup(&state, &principal, &id)?;
    let request: FilesUpload = json_body(&state, body)?;
    if request.files.is_empty() {
        return Err(ApiError::bad_request("`files` is empty"));
    }
    let files = files_from_wire(None, request.files)?;
    session.upload(&files).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /api/v1/sessions/:id/files/*path`: the raw body becomes the file.
pub(crate) async fn put(
    State(state): State<AppState>,
    Path((id, path)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let principal = principal(&state, &headers, &uri).await?;
    let session = super::lookup(&state, &principal, &id)?;
    check_path(&path)?;
    let body = body.map_err(|rejection| body_error(&rejection, state.config().max_body_bytes))?;
    let file = SourceFile {
        name: path,
        contents: body.to_vec(),
    };
    session.upload(&[file]).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/sessions/:id/files/*path`: the file's bytes.
pub(crate) async fn download(
    State(state): State<AppState>,
    Path((id, path)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let principal = principal(&state, &headers, &uri).await?;
    let session = super::lookup(&state, &principal, &id)?;
    check_path(&path)?;
    match session.download(&path).await? {
        Some(contents) => {
            let mut response = contents.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            Ok(response)
        }
        None => Err(ApiError::new(
            ErrorCode::NotFound,
            format!(
                "no regular file `{}` in the session (symlinks are never followed)",
                path.escape_debug()
            ),
        )),
    }
}

fn check_path(path: &str) -> Result<(), ApiError> {
    validate_file_name(path)
        .map_err(|problem| ApiError::bad_request(format!("file path: {problem}")))
}
