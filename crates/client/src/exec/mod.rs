//! `runnel exec FILE|-`: one streamed run with the terminal attached.
//!
//! The program's stdout and stderr go to the terminal's as they arrive (compile output to
//! stderr); the terminal's stdin goes to the program line by line, then EOF. Ctrl-C sends
//! SIGINT to the program, a second Ctrl-C SIGKILL. The exit code follows [`exit_code`].

pub mod exit_code;

use std::io::BufRead;
use std::path::{Path, PathBuf};

use base64::Engine;
use runnel_protocol::{ExecuteRequest, LimitsSpec, OutputChunk, ServerMessage, Stage};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::connection::Client;
use crate::error::ClientError;
use crate::language::language_for_path;

/// Lines of terminal input buffered ahead of the program.
const STDIN_QUEUE: usize = 64;

/// What `runnel exec` runs and where.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    /// Server URL (`ws://127.0.0.1:8080`, ...).
    pub url: String,
    /// API key.
    pub api_key: String,
    /// Language id or alias; inferred from the file's extension when absent. Required for `-`.
    pub language: Option<String>,
    /// The program's file, or `-` to read the program from stdin.
    pub path_or_dash: String,
    /// Program arguments.
    pub args: Vec<String>,
    /// Limits (capped by the key's maximums on the server).
    pub limits: Option<LimitsSpec>,
    /// Runtime version (`None` for the installed one).
    pub version: Option<String>,
    /// Do not forward the terminal's stdin (the program sees EOF at once). Always the case for
    /// `-`, whose stdin is the program itself.
    pub no_stdin: bool,
}

/// Runs a program once with the terminal attached and returns the exit code to exit with.
pub async fn exec(options: ExecOptions) -> Result<i32, ClientError> {
    let from_stdin = options.path_or_dash == "-";
    let (code, language) = read_program(&options).await?;
    let client = Client::connect(&options.url, &options.api_key).await?;
    let request = ExecuteRequest {
        language,
        code: Some(code),
        args: options.args.clone(),
        limits: options.limits,
        version: options.version.clone(),
        stream: true,
        ..ExecuteRequest::default()
    };
    let mut run = client.execute(request).await?;
    let mut input = if from_stdin || options.no_stdin {
        run.write_stdin("", true).await?;
        None
    } else {
        Some(spawn_stdin_reader())
    };
    let mut interrupts =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    let mut interrupt_count = 0u32;
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    let result = loop {
        tokio::select! {
            event = run.next_event() => match event {
                Some(ServerMessage::Stdout(chunk)) => {
                    if chunk.stage == Some(Stage::Compile) {
                        write_chunk(&mut stderr, &chunk).await?;
                    } else {
                        write_chunk(&mut stdout, &chunk).await?;
                    }
                }
                Some(ServerMessage::Stderr(chunk)) => write_chunk(&mut stderr, &chunk).await?,
                Some(ServerMessage::Exit(exit)) => {
                    if let Some(notice) = exit_code::status_notice(&exit) {
                        let line = format!("{notice}\n");
                        stderr.write_all(line.as_bytes()).await.map_err(ClientError::WriteOutput)?;
                        stderr.flush().await.map_err(ClientError::WriteOutput)?;
                    }
                    break Ok(exit_code::exit_code_for(&exit));
                }
                Some(ServerMessage::Error(error)) => break Err(client.server_error(error)),
                // `started`, and `input_request` whose prompt was already printed on stdout.
                Some(_) => {}
                None => break Err(client.closed_error()),
            },
            line = recv_line(&mut input) => match line {
                Some(line) => run.write_stdin(&line, false).await?,
                None => {
                    input = None;
                    run.write_stdin("", true).await?;
                }
            },
            _ = recv_interrupt(&mut interrupts), if interrupt_count < 2 => {
                interrupt_count += 1;
                let signal = if interrupt_count == 1 { "SIGINT" } else { "SIGKILL" };
                tracing::debug!(run_id = %run.id, signal, "forwarding interrupt");
                run.signal(signal).await?;
            }
        }
    };
    client.close().await;
    result
}

/// The program text and its language.
async fn read_program(options: &ExecOptions) -> Result<(String, String), ClientError> {
    if options.path_or_dash == "-" {
        let language = options
            .language
            .clone()
            .ok_or(ClientError::LanguageRequired)?;
        let mut code = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut tokio::io::stdin(), &mut code)
            .await
            .map_err(|source| ClientError::ReadProgram {
                path: PathBuf::from("-"),
                source,
            })?;
        return Ok((code, language));
    }
    let path = Path::new(&options.path_or_dash);
    let language = match &options.language {
        Some(language) => language.clone(),
        None => language_for_path(path)
            .ok_or_else(|| ClientError::UnknownExtension {
                path: path.to_owned(),
            })?
            .to_owned(),
    };
    let code =
        tokio::fs::read_to_string(path)
            .await
            .map_err(|source| ClientError::ReadProgram {
                path: path.to_owned(),
                source,
            })?;
    Ok((code, language))
}

/// Reads the terminal's stdin on a plain thread (a blocked read must not hold up the tokio
/// runtime's shutdown, as `tokio::io::stdin` would) and sends it line by line; the channel
/// closes at EOF.
fn spawn_stdin_reader() -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel(STDIN_QUEUE);
    let spawned = std::thread::Builder::new()
        .name("runnel-exec-stdin".to_owned())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut stdin = stdin.lock();
            let mut line = Vec::new();
            loop {
                line.clear();
                match stdin.read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line).into_owned();
                        if sender.blocking_send(text).is_err() {
                            break;
                        }
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(error) => {
                        tracing::debug!(error = %error, "reading stdin failed: sending EOF");
                        break;
                    }
                }
            }
        });
    if let Err(error) = spawned {
        // Without the thread the sender is dropped, so the program gets EOF at once.
        tracing::warn!(error = %error, "cannot start the stdin reader: the program gets EOF");
    }
    receiver
}

/// The next line of terminal input; pending forever once stdin is closed.
async fn recv_line(input: &mut Option<mpsc::Receiver<String>>) -> Option<String> {
    match input {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// The next SIGINT; pending forever when it cannot be caught.
async fn recv_interrupt(interrupts: &mut Option<tokio::signal::unix::Signal>) {
    match interrupts {
        Some(signal) => {
            if signal.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Writes one output chunk (decoding base64 chunks) and flushes, so output appears at once.
async fn write_chunk<W: AsyncWrite + Unpin>(
    writer: &mut W,
    chunk: &OutputChunk,
) -> Result<(), ClientError> {
    let bytes = chunk_bytes(chunk);
    writer
        .write_all(&bytes)
        .await
        .map_err(ClientError::WriteOutput)?;
    writer.flush().await.map_err(ClientError::WriteOutput)
}

/// The raw bytes of a chunk: base64-decoded when so marked (and valid), else the text.
fn chunk_bytes(chunk: &OutputChunk) -> Vec<u8> {
    if chunk.encoding.as_deref() == Some("base64") {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&chunk.data) {
            return bytes;
        }
        tracing::debug!(run_id = %chunk.id, "chunk marked base64 is not: writing it as text");
    }
    chunk.data.as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(data: &str, encoding: Option<&str>) -> OutputChunk {
        OutputChunk {
            id: "r1".to_owned(),
            data: data.to_owned(),
            seq: 1,
            stage: None,
            encoding: encoding.map(str::to_owned),
            session: None,
        }
    }

    #[test]
    fn chunks_decode_base64_and_keep_text() {
        assert_eq!(chunk_bytes(&chunk("héllo\n", None)), "héllo\n".as_bytes());
        assert_eq!(chunk_bytes(&chunk("/w==", Some("base64"))), vec![0xff]);
        assert_eq!(
            chunk_bytes(&chunk("not base64!", Some("base64"))),
            b"not base64!"
        );
    }

    #[tokio::test]
    async fn stdin_programs_need_a_language() {
        let options = ExecOptions {
            path_or_dash: "-".to_owned(),
            ..ExecOptions::default()
        };
        assert!(matches!(
            read_program(&options).await,
            Err(ClientError::LanguageRequired)
        ));
    }

    #[tokio::test]
    async fn files_get_their_language_from_the_extension() {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path();
        let file = dir.join("hello.rb");
        std::fs::write(&file, "puts 1\n").expect("write");
        let options = ExecOptions {
            path_or_dash: file.display().to_string(),
            ..ExecOptions::default()
        };
        let (code, language) = read_program(&options).await.expect("read");
        assert_eq!((code.as_str(), language.as_str()), ("puts 1\n", "ruby"));

        let unknown = ExecOptions {
            path_or_dash: dir.join("x.unknown").display().to_string(),
            ..ExecOptions::default()
        };
        let error = read_program(&unknown).await.expect_err("unknown extension");
        assert!(error.to_string().contains("x.unknown"), "{error}");
        let missing = ExecOptions {
            path_or_dash: dir.join("missing.py").display().to_string(),
            ..ExecOptions::default()
        };
        let error = read_program(&missing).await.expect_err("missing file");
        assert!(error.to_string().contains("missing.py"), "{error}");
    }
}
