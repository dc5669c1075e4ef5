# SPDX-License-Identifier: AGPL-3.0-or-later
"""The analyst's web page: upload, mapping, findings, instances and maps, in a browser.

Server-rendered pages over the same :class:`~api.store.Store` as the REST API, with a little
JavaScript on top (upload progress, polling a running analysis, map zoom and pan). Every page
works with the keyboard; without JavaScript the forms still submit and the maps still show.

Routes (none in the OpenAPI document; the REST API is the machine interface)::

    GET  /                              logs, drafts and the upload form
    POST /ui/upload                     a file becomes a draft -> its mapping step
    GET  /ui/drafts/{id}                the mapping step of an upload
    POST /ui/drafts/{id}                check the mapping, or save the log and analyse it
    GET  /ui/logs/{id}                  a log: its mapping, its analyses
    POST /ui/logs/{id}                  re-map if changed, then analyse
    POST /ui/logs/{id}/analyse          analyse again as it is
    POST /ui/logs/{id}/compare          analyse before and after a date, then compare
    GET  /ui/analyses/{id}              progress, then findings and maps
    GET  /ui/analyses/{id}/status       progress as JSON (polled by the page)
    GET  /ui/analyses/{id}/map          a map as an HTML fragment (inline SVG)
    GET  /ui/compare?before=&after=     two analyses: each finding's rate before and after,
                                        and the after process coloured by change
    GET  /ui/findings/{id}              a finding: figures, map, instances
    GET  /ui/findings/{id}/instances.csv
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from api.deps import RunnerDep, StoreDep, get_settings, owner_of_key
from api.drafts import Draft, Drafts, trial_read
from api.errors import Conflict, InvalidRequest
from api.store import AnalysisRecord, MapName, Store, UploadMapping, safe_file_name
from api.uploads import receive_upload
from api.web.auth import COOKIE, SameOrigin, WebOwner, safe_next
from api.web.forms import DELIMITERS, ENCODINGS, build_form, parse_form
from api.web.render import SECURITY_HEADERS, html
from procmine.errors import ConfigError, LogError
from procmine.findings import shown_columns
from procmine.io.peek import peek_log
from procmine.mapping import FIELDS
from procmine.preview import LogPreview
from procmine.render import Overlay, inline_svg

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

Id = Annotated[str, Path(max_length=64)]
# The map controls, as the analysis page, the finding page and the map fragment take them.
MapQuery = Annotated[MapName, Query()]
OverlayQuery = Annotated[Overlay, Query()]
PathsQuery = Annotated[int | None, Query(ge=1, le=2000)]
#: Rows of the file shown in the mapping step, and instances per page of a finding.
PEEK_ROWS = 10
INSTANCES_PER_PAGE = 25
#: Finished analyses offered to compare one with (the newest first).
COMPARABLE = 50


def get_drafts(request: Request) -> Drafts:
    """The service's drafts."""
    drafts: Drafts = request.app.state.drafts
    return drafts


DraftsDep = Annotated[Drafts, Depends(get_drafts)]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


# -- logs and uploads ---------------------------------------------------------------------------


@router.get("/")
def home(request: Request, store: StoreDep, drafts: DraftsDep, owner: WebOwner) -> Response:
    """The start page: upload a log; the logs, their latest analyses, and waiting drafts."""
    logs, total = store.list_logs(owner, 200, 0)
    latest = {log.id: store.list_analyses(owner, log.id, 3, 0)[0] for log in logs}
    return html(
        request,
        "home.html",
        logs=logs,
        total=total,
        latest=latest,
        drafts=drafts.list(owner),
        max_upload=get_settings(request).upload_limit_for(owner),
    )


@router.post("/ui/upload", dependencies=[SameOrigin])
async def upload(request: Request, store: StoreDep, drafts: DraftsDep, owner: WebOwner) -> Response:
    """Receive a file (streamed, size-limited) and keep it as a draft for its mapping step."""
    folder = store.new_upload_dir()
    try:
        limit = get_settings(request).upload_limit_for(owner)
        received = await receive_upload(request, folder, limit)
        draft = await run_in_threadpool(drafts.add, owner, received.path, received.size)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    location = f"/ui/drafts/{draft.id}"
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"location": location}, status_code=201)
    return _see_other(location)


def _mapping_page(
    request: Request,
    *,
    title: str,
    action: str,
    peek_source: Any,
    mapping: UploadMapping,
    preview: LogPreview | None,
    error: LogError | ConfigError | None,
    status: int = 200,
    **context: Any,
) -> Response:
    try:
        peek = peek_log(peek_source, PEEK_ROWS, mapping.read)
    except LogError as exc:
        return html(request, "error.html", 422, title="The file cannot be read", error=exc)
    form = build_form(peek, mapping, preview=preview, error=error)
    return html(
        request,
        "mapping.html",
        status,
        title=title,
        action=action,
        form=form,
        delimiters=DELIMITERS,
        encodings=ENCODINGS,
        **context,
    )


def _try_read(
    store: Store, path: Any, mapping: UploadMapping
) -> tuple[LogPreview | None, LogError | ConfigError | None]:
    try:
        return trial_read(store, path, mapping), None
    except (LogError, ConfigError) as exc:
        return None, exc


def _draft_page(
    request: Request,
    draft: Draft,
    mapping: UploadMapping,
    preview: LogPreview | None,
    error: LogError | ConfigError | None,
    status: int | None = None,
) -> Response:
    return _mapping_page(
        request,
        title=f"Map the columns of {draft.name}",
        action=f"/ui/drafts/{draft.id}",
        peek_source=draft.path,
        mapping=mapping,
        preview=preview,
        error=error,
        status=status or (422 if error is not None else 200),
        draft=draft,
    )


@router.get("/ui/drafts/{draft_id}")
def draft_page(request: Request, draft_id: Id, drafts: DraftsDep, owner: WebOwner) -> Response:
    """The mapping step of an upload: columns, read options and roles, checked by reading."""
    draft = drafts.get(owner, draft_id)
    mapping = UploadMapping.parse(None)
    preview, error = _try_read(drafts.store, draft.path, mapping)
    # Problems with the guessed mapping are what this step is for: the page itself is fine.
    return _draft_page(request, draft, mapping, preview, error, status=200)


async def _form(request: Request) -> Mapping[str, Any]:
    async with request.form(max_files=0, max_fields=200_000) as form:
        return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/ui/drafts/{draft_id}", dependencies=[SameOrigin])
async def draft_submit(
    request: Request,
    draft_id: Id,
    drafts: DraftsDep,
    store: StoreDep,
    runner: RunnerDep,
    owner: WebOwner,
) -> Response:
    """Check the mapping (``action=check``) or save the log and start its analysis."""
    draft = drafts.get(owner, draft_id)
    form = await _form(request)
    default = UploadMapping.parse(None)
    try:
        mapping = parse_form(form, previous=default)
    except ConfigError as exc:
        return await run_in_threadpool(_draft_page, request, draft, default, None, exc)
    if form.get("action") == "analyse":
        try:
            record = await run_in_threadpool(drafts.confirm, owner, draft.id, mapping)
        except (LogError, ConfigError) as exc:
            return await run_in_threadpool(_draft_page, request, draft, mapping, None, exc)
        analysis, new = store.create_analysis(owner, record.id, {})
        if new:
            runner.submit(analysis.id)
        return _see_other(f"/ui/analyses/{analysis.id}")
    preview, error = await run_in_threadpool(_try_read, drafts.store, draft.path, mapping)
    # Reading the file's head (all of an XES) blocks: never on the event loop.
    return await run_in_threadpool(_draft_page, request, draft, mapping, preview, error)


@router.post("/ui/drafts/{draft_id}/delete", dependencies=[SameOrigin])
def draft_delete(draft_id: Id, drafts: DraftsDep, owner: WebOwner) -> Response:
    """Throw a draft away."""
    drafts.delete(owner, draft_id)
    return _see_other("/")


def _log_context(store: Store, owner: str, log_id: str) -> dict[str, Any]:
    analyses, total = store.list_analyses(owner, log_id, 50, 0)
    return {"log": store.get_log(owner, log_id), "analyses": analyses, "analyses_total": total}


@router.get("/ui/logs/{log_id}")
def log_page(request: Request, log_id: Id, store: StoreDep, owner: WebOwner) -> Response:
    """A stored log: its mapping and roles (to correct and analyse again), its analyses."""
    context = _log_context(store, owner, log_id)
    return _mapping_page(
        request,
        title=context["log"].name,
        action=f"/ui/logs/{log_id}",
        peek_source=store.original_file(owner, log_id),
        mapping=store.log_mapping(owner, log_id),
        preview=store.preview(owner, log_id, 0),
        error=None,
        **context,
    )


@router.post("/ui/logs/{log_id}", dependencies=[SameOrigin])
async def log_submit(
    request: Request, log_id: Id, store: StoreDep, runner: RunnerDep, owner: WebOwner
) -> Response:
    """Check a changed mapping, or apply it (reading the log again) and start an analysis."""
    stored = store.log_mapping(owner, log_id)
    original = store.original_file(owner, log_id)
    form = await _form(request)
    preview: LogPreview | None
    error: LogError | ConfigError | None = None
    try:
        mapping = parse_form(form, previous=stored)
    except ConfigError as exc:
        mapping, error = stored, exc
    changed = not _same_effect(store.get_log(owner, log_id).summary, mapping, stored)
    if error is None and form.get("action") == "analyse":
        try:
            if changed:
                await run_in_threadpool(store.remap_log, owner, log_id, mapping)
            analysis, new = store.create_analysis(owner, log_id, {})
        except (LogError, ConfigError) as exc:
            error = exc
        else:
            if new:
                runner.submit(analysis.id)
            return _see_other(f"/ui/analyses/{analysis.id}")
    if error is None and changed:
        preview, error = await run_in_threadpool(_try_read, store, original, mapping)
    elif error is None:
        preview = await run_in_threadpool(store.preview, owner, log_id, 0)
    else:
        preview = None
    return await run_in_threadpool(
        lambda: _mapping_page(
            request,
            title=store.get_log(owner, log_id).name,
            action=f"/ui/logs/{log_id}",
            peek_source=original,
            mapping=mapping,
            preview=preview,
            error=error,
            status=422 if error is not None else 200,
            **_log_context(store, owner, log_id),
        )
    )


def _same_effect(summary: Mapping[str, Any], mapping: UploadMapping, stored: UploadMapping) -> bool:
    """Whether ``mapping`` reads the log as it is read now (the form names every field, the
    stored mapping only those that were not guessed)."""
    current = summary["mapping"]["columns"]
    return (
        all(getattr(mapping.columns, f) == current.get(f) for f in FIELDS)
        and mapping.columns.steps == stored.columns.steps
        and mapping.columns.timestamp_format == stored.columns.timestamp_format
        and mapping.read == stored.read
        and dict(mapping.roles) == dict(stored.roles)
    )


@router.post("/ui/logs/{log_id}/analyse", dependencies=[SameOrigin])
def log_analyse(log_id: Id, store: StoreDep, runner: RunnerDep, owner: WebOwner) -> Response:
    """Analyse a log again with its current mapping (a failed analysis is never reused)."""
    analysis, new = store.create_analysis(owner, log_id, {})
    if new:
        runner.submit(analysis.id)
    return _see_other(f"/ui/analyses/{analysis.id}")


@router.post("/ui/logs/{log_id}/compare", dependencies=[SameOrigin])
async def log_split(
    request: Request, log_id: Id, store: StoreDep, runner: RunnerDep, owner: WebOwner
) -> Response:
    """Analyse the orders placed before a date and those placed from it, then compare the
    two (the comparison page waits for both)."""
    text = str((await _form(request)).get("date", "")).strip()
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        detail = f"the date of the change, {text!r}, is not a date (YYYY-MM-DD)"
        raise InvalidRequest(detail) from None
    ids = []
    for period in ({"end": day.isoformat()}, {"start": day.isoformat()}):
        analysis, new = store.create_analysis(owner, log_id, {"period": period})
        if new:
            runner.submit(analysis.id)
        ids.append(analysis.id)
    return _see_other("/ui/compare?" + urlencode({"before": ids[0], "after": ids[1]}))


@router.post("/ui/logs/{log_id}/delete", dependencies=[SameOrigin])
def log_delete(log_id: Id, store: StoreDep, owner: WebOwner) -> Response:
    """Delete a log with its analyses."""
    store.delete_log(owner, log_id)
    return _see_other("/")


# -- analyses, findings, maps -------------------------------------------------------------------


def _status(record: AnalysisRecord) -> dict[str, Any]:
    return {
        "state": record.state,
        "progress": record.progress,
        "phase": record.phase,
        "error": record.error,
        "findings": record.findings_count,
    }


@router.get("/ui/analyses/{analysis_id}")
def analysis_page(
    request: Request,
    analysis_id: Id,
    store: StoreDep,
    owner: WebOwner,
    map: MapQuery = "process",
    overlay: OverlayQuery = "frequency",
    paths: PathsQuery = None,
) -> Response:
    """A running analysis's progress, or a finished one's findings and maps."""
    record = store.get_analysis(owner, analysis_id)
    log = store.get_log(owner, record.log_id)
    context: dict[str, Any] = {"analysis": record, "log": log, "status": _status(record)}
    if record.state == "done":
        findings, _ = store.list_findings(
            owner,
            analysis_id,
            detector=None,
            min_severity=None,
            sort="-severity",
            limit=500,
            offset=0,
        )
        context["findings"] = findings
        context["map"] = _map_context(store, owner, analysis_id, map, overlay, paths, None)
        context["comparable"] = store.finished_analyses(
            owner, COMPARABLE, besides=analysis_id, log_first=record.log_id
        )
    return html(request, "analysis.html", **context)


@router.get("/ui/compare")
def compare_page(
    request: Request,
    store: StoreDep,
    owner: WebOwner,
    before: Annotated[str, Query(max_length=64)],
    after: Annotated[str, Query(max_length=64)],
) -> Response:
    """Before vs after: each finding's rate in both analyses with the difference, and the
    after process coloured by the change in each path's share (the REST API's
    ``GET /analyses/{before}/compare/{after}`` as a page)."""
    records = [store.get_analysis(owner, i) for i in (before, after)]
    logs = [store.get_log(owner, r.log_id) for r in records]
    names: dict[str, Any] = {
        "before": records[0],
        "after": records[1],
        "before_log": logs[0],
        "after_log": logs[1],
    }
    if any(r.state != "done" for r in records):
        # Started together (before and after a date) or still running: the page follows
        # the unfinished one and shows the comparison when both are done.
        running = next((r for r in records if r.state in ("queued", "running")), None)
        failed = [r for r in records if r.state == "failed"]
        status = _status(running) if running is not None else None
        return html(request, "compare.html", running=running, failed=failed, status=status, **names)
    result, graph = store.compare(owner, before, after)
    changed = [e for e in result.edges if e.verdict in ("fell", "rose")]
    changed.sort(key=lambda e: -abs(e.difference.estimate))
    return html(
        request,
        "compare.html",
        result=result,
        **names,
        changed=changed[:10],
        changed_total=len(changed),
        svg=inline_svg(store.change_svg(result, graph)),
    )


@router.get("/ui/analyses/{analysis_id}/status")
def analysis_status(analysis_id: Id, store: StoreDep, owner: WebOwner) -> Response:
    """Progress of an analysis, for the page to poll."""
    return JSONResponse(_status(store.get_analysis(owner, analysis_id)))


def _map_context(
    store: Store,
    owner: str,
    analysis_id: str,
    name: MapName,
    overlay: Overlay,
    paths: int | None,
    finding: str | None,
) -> dict[str, Any]:
    size = store.map_size(owner, analysis_id, name)
    shown = min(max(paths or size.default, size.least), size.total)
    svg = None
    if size.total:
        process_finding = finding if name == "process" else None
        path = store.map_file(
            owner, analysis_id, name, "svg", overlay, shown, None, process_finding
        )
        svg = inline_svg(path.read_bytes())
    return {
        "analysis_id": analysis_id,
        "name": name,
        "overlay": overlay,
        "paths": shown,
        "least_paths": size.least,
        "total_paths": size.total,
        "finding": finding,
        "svg": svg,
    }


@router.get("/ui/analyses/{analysis_id}/map")
def map_fragment(
    request: Request,
    analysis_id: Id,
    store: StoreDep,
    owner: WebOwner,
    name: MapQuery = "process",
    overlay: OverlayQuery = "frequency",
    paths: PathsQuery = None,
    finding: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """One map as an HTML fragment, for the page to swap in without reloading."""
    context = _map_context(store, owner, analysis_id, name, overlay, paths, finding)
    return html(request, "_map_fragment.html", map=context)


@router.get("/ui/findings/{finding_id}")
def finding_page(
    request: Request,
    finding_id: Id,
    store: StoreDep,
    owner: WebOwner,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    overlay: OverlayQuery = "frequency",
    paths: PathsQuery = None,
) -> Response:
    """A finding: its figures and assumptions, its paths on the map, its instances."""
    offset = (page - 1) * INSTANCES_PER_PAGE
    finding, rows, total = store.instances(owner, finding_id, INSTANCES_PER_PAGE, offset)
    analysis = store.get_analysis(owner, finding.analysis_id)
    pages = max(1, -(-total // INSTANCES_PER_PAGE))
    if page > pages:
        raise Conflict(f"there are only {pages} pages of instances")
    return html(
        request,
        "finding.html",
        finding=finding,
        f=finding.document,
        analysis=analysis,
        log=store.get_log(owner, analysis.log_id),
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        columns=shown_columns(rows),
        map=_map_context(store, owner, finding.analysis_id, "process", overlay, paths, finding.id),
    )


@router.get("/ui/findings/{finding_id}/instances.csv")
def finding_csv(finding_id: Id, store: StoreDep, owner: WebOwner) -> Response:
    """All instances of a finding as CSV (formula-safe)."""
    finding = store.get_finding(owner, finding_id)
    name = safe_file_name(f"{finding.key.replace(':', '-')}-instances.csv")
    return StreamingResponse(
        store.instances_csv(owner, finding_id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- login ------------------------------------------------------------------------------------


@router.get("/ui/login")
def login_page(request: Request, next: str | None = None) -> Response:
    """Ask for the API key (only when the service runs with keys)."""
    return html(request, "login.html", next=safe_next(next), error=None)


@router.post("/ui/login", dependencies=[SameOrigin])
async def login(request: Request) -> Response:
    """Check the key and keep it in an HttpOnly, SameSite=Strict cookie."""
    form = await _form(request)
    key = str(form.get("key", "")).strip()
    target = safe_next(str(form.get("next", "/")))
    settings = get_settings(request)
    if not settings.auth_required:
        return _see_other(target)  # nothing to log in to
    if not key or owner_of_key(settings, key) is None:
        return html(request, "login.html", 401, next=target, error="That key is not valid.")
    response = _see_other(target)
    response.set_cookie(
        COOKIE,
        key,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/ui/logout", dependencies=[SameOrigin])
def logout() -> Response:
    """Forget the key."""
    response = _see_other("/ui/login")
    response.delete_cookie(COOKIE, path="/")
    return response
