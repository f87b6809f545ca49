"""A session: a long-lived sandbox whose interpreter keeps its state across executes."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import _http
from ._protocol import SeqTracker, StdinLedger
from .errors import SessionClosedError
from .models import FileEntry, Limits, RunResult

if TYPE_CHECKING:
    from ._connection import Connection
    from .run import Run

__all__ = ["Session"]

FileContent = str | bytes


class Session:
    """A session created with :meth:`runnel.RunnelClient.create_session`.

    ``async with await client.create_session("python") as session:`` closes it at the end.
    Its runs survive reconnects like one-shot runs: the client resumes the session from the
    last ``seq`` it delivered.
    """

    def __init__(
        self,
        connection: Connection,
        session_id: str,
        language: str,
        services: tuple[str, ...],
        seq: int,
    ) -> None:
        self._connection = connection
        self._id = session_id
        self._language = language
        self._services = services
        self.tracker = SeqTracker(seq)
        self.ledger = StdinLedger()
        self.closed = False
        #: Why the session ended, when it did.
        self.closed_reason = ""

    @property
    def id(self) -> str:
        """The session id (``ses-...``)."""
        return self._id

    @property
    def language(self) -> str:
        """The session's language id."""
        return self._language

    @property
    def services(self) -> tuple[str, ...]:
        """Terminal services (``shell``, the language's REPL) for ``/stream/session/:id/pty``."""
        return self._services

    def execute(
        self,
        code: str | None = None,
        *,
        files: Mapping[str, FileContent] | None = None,
        stdin: str | None = None,
        args: Iterable[str] | None = None,
        limits: Limits | None = None,
        timeout: float | None = None,
        run_id: str | None = None,
    ) -> Run:
        """Run ``code`` in the session (executes queue: one runs at a time)."""
        self._check_open()
        return self._connection.client.execute(
            code,
            files=files,
            stdin=stdin,
            args=args,
            limits=limits,
            timeout=timeout,
            run_id=run_id,
            session=self,
        )

    async def run(self, code: str, **options: Any) -> RunResult:
        """``execute`` and wait for the result."""
        return await self.execute(code, **options)

    async def restart(self) -> None:
        """A fresh interpreter (variables are gone; files stay)."""
        self._check_open()
        await self._connection.session_request("restart_session", self)

    async def close(self) -> None:
        """Close the session and free its sandbox. Closing twice is harmless."""
        if self.closed:
            return
        await self._connection.session_request("close_session", self)

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # --- files (HTTP) -------------------------------------------------------------------------

    async def upload_files(
        self,
        files: Mapping[str, FileContent] | Iterable[tuple[str, FileContent]],
        *,
        timeout: float | None = None,
    ) -> None:
        """Write files under the session's work directory (``/work``; names are relative)."""
        items = files.items() if isinstance(files, Mapping) else files
        wire = []
        for name, content in items:
            if isinstance(content, bytes):
                encoded = base64.b64encode(content).decode("ascii")
                wire.append({"name": name, "content": encoded, "encoding": "base64"})
            else:
                wire.append({"name": name, "content": content})
        await self._http("POST", "/files", payload={"files": wire}, timeout=timeout)

    async def upload_file(
        self, name: str, content: FileContent, *, timeout: float | None = None
    ) -> None:
        """Write one file."""
        await self.upload_files([(name, content)], timeout=timeout)

    async def list_files(self, *, timeout: float | None = None) -> list[FileEntry]:
        """The regular files under the work directory (the server lists at most 10,000)."""
        answer = await self._http("GET", "/files", timeout=timeout)
        return [
            FileEntry(name=entry["name"], size=entry["size"], executable=entry["executable"])
            for entry in answer["files"]
        ]

    async def download_file(self, name: str, *, timeout: float | None = None) -> bytes:
        """The bytes of one file."""
        client = self._connection.client
        return await _http.request(
            client.http_base,
            client.api_key,
            "GET",
            _http.file_path(self._id, name),
            timeout=client.request_timeout(timeout),
        )

    async def info(self, *, timeout: float | None = None) -> dict[str, Any]:
        """The server's view: ``seq``, ``idle_seconds``, ``running``, ``stateful``, ..."""
        answer: dict[str, Any] = await self._http("GET", "", timeout=timeout)
        return answer

    async def _http(
        self, method: str, suffix: str, *, payload: Any = None, timeout: float | None
    ) -> Any:
        client = self._connection.client
        return await _http.request_json(
            client.http_base,
            client.api_key,
            method,
            f"/api/v1/sessions/{self._id}{suffix}",
            payload=payload,
            timeout=client.request_timeout(timeout),
        )

    def _check_open(self) -> None:
        if self.closed:
            raise SessionClosedError(
                f"session {self._id} is closed ({self.closed_reason or 'closed'}): "
                "create a new one with client.create_session()"
            )

    def __repr__(self) -> str:
        return f"<Session {self._id} {self._language}{' closed' if self.closed else ''}>"
