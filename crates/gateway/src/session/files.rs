//! Session files: `GET /api/v1/sessions/:id/files` lists, `POST` with
//! `{"files":[{name, content, encoding?}]}` uploads several, `PUT .../files/*path` uploads one
//! raw body, `GET .../files/*path` downloads one. Names are checked here (relative, no `..`,
//! no NUL or control characters) and again by the engine; the sandbox crate writes and reads
//! beneath the work directory without ever following a symlink, so a link the session planted
//! reads as absent.

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use runnel_engine::SourceFile;
use runnel_protocol::session::{FileEntryInfo, FileList, FilesUpload};
use runnel_protocol::ErrorCode;
use tokio::io::AsyncReadExt;

use super::http::json_body;
use crate::auth::Authenticated;
use crate::convert::{files_from_wire, validate_file_name};
use crate::error::ApiError;
use crate::http::body_error;
use crate::state::AppState;

/// One read of a download.
const DOWNLOAD_CHUNK: usize = 64 << 10;

/// `GET /api/v1/sessions/:id/files`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Authenticated(principal): Authenticated,
) -> Result<Json<FileList>, ApiError> {
    let session = super::lookup(&state, &principal, &id)?;
    let listing = session.list_files().await?;
    let files = listing
        .files
        .into_iter()
        .map(|file| FileEntryInfo {
            name: file.path,
            size: file.size,
            executable: file.executable,
        })
        .collect();
    Ok(Json(FileList {
        files,
        truncated: listing.truncated,
    }))
}

/// `POST /api/v1/sessions/:id/files`.
pub(crate) async fn upload(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Authenticated(principal): Authenticated,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
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
    Authenticated(principal): Authenticated,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
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

/// `GET /api/v1/sessions/:id/files/*path`: the file's bytes, streamed from the open file in
/// [`DOWNLOAD_CHUNK`] reads as the client takes them (never the whole file in memory).
pub(crate) async fn download(
    State(state): State<AppState>,
    Path((id, path)): Path<(String, String)>,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    let session = super::lookup(&state, &principal, &id)?;
    check_path(&path)?;
    match session.download(&path).await? {
        Some((file, size)) => {
            let mut response = Body::from_stream(file_chunks(file, size)).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
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

/// The first `size` bytes of `file` (its size when opened: a file the session grows meanwhile
/// is cut there, one it shrinks ends early), one read at a time.
fn file_chunks(
    file: tokio::fs::File,
    size: u64,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
    futures_util::stream::try_unfold((file, size), |(mut file, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let want = usize::try_from(left.min(DOWNLOAD_CHUNK as u64)).unwrap_or(DOWNLOAD_CHUNK);
        let mut buffer = vec![0u8; want];
        let read = file.read(&mut buffer).await?;
        if read == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while it was sent",
            ));
        }
        buffer.truncate(read);
        Ok(Some((Bytes::from(buffer), (file, left - read as u64))))
    })
}

fn check_path(path: &str) -> Result<(), ApiError> {
    validate_file_name(path)
        .map_err(|problem| ApiError::bad_request(format!("file path: {problem}")))
}
