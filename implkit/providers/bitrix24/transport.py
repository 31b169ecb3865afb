"""Bitrix24 REST calls over the shared HttpClient: envelopes, `batch`, both limits, the ID-cursor export.

Every call is `POST {portal}/rest/{user}/{secret}/{method}` (an incoming
webhook; the secret is in the base URL, which the HTTP layer redacts) with a
JSON body, or `POST {portal}/rest/{method}` with the OAuth access token moved
into the query as `auth=` (`OAuthQueryTransport`). Reference:
/work/shared/reference/bitrix24-api.md §2–§7.

Limits (§5), both honoured before the server has to say no:

- **requests** — the HttpClient's `RateLimiter(2/s, burst 50)` is the
  portal's leaky bucket seen from the client. A 503 `QUERY_LIMIT_EXCEEDED`
  (another client on the same IP) is a refusal before processing: retried,
  also for writes (`is_refused`).
- **operating** — per method, the portal sums execution time over 10
  minutes and blocks the method at 480 s (429 `OPERATION_TIME_LIMIT`, or
  per sub-call inside a `batch` answered 200). `OperatingBudget` remembers,
  per method, the last `operating` and `operating_reset_at` the portal
  reported (from `time`, and from `result_time` per batch command: nested
  calls are billed to their own methods) and the largest cost of one call;
  before a request whose methods would cross `limit - margin` it sleeps
  until `operating_reset_at`. A 429 or a refused batch command that still
  happens (another process on the same webhook) waits the same way and is
  re-sent: a refused command was not executed.

`export_chain` is the fastest documented full read (§6, §7): batches of 50
list calls with `start=-1`, `order[ID]=ASC`, command 0 filtering `>ID` =
the last id seen and command *i* `>ID` = `$result[c{i-1}][49][ID]` — 2,500
rows per HTTP request and no row counting. Rows after the first short page
of a batch are ignored, so an unresolved reference can never duplicate rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import quote

import httpx

from implkit.errors import ApiError, RuntimeFailure
from implkit.http import HttpClient, HttpError, RateLimited
from implkit.http.redact import redact
from implkit.lang import say

_MESSAGES = {
    "blocked": {"ru": "{method}: портал всё ещё не пускает по лимиту нагрузки, хотя его переждали",
                "en": "{method}: still blocked by the portal's operating limit after waiting it out"},
    "batch": {"ru": "batch: портал всё ещё отклоняет команды по своим лимитам, хотя их переждали",
              "en": "batch: commands still refused by the portal's limits after waiting"},
}

MAX_BATCH = 50  # §7: commands per batch
PAGE = 50  # §6: rows per list page, fixed
OPERATING_LIMIT = 480.0  # §5.2: seconds of execution per method per 10 minutes
OPERATING_MARGIN = 0.1  # keep 10 % of the budget free (clock skew between our reading and the portal's)
MAX_OPERATING_WAIT = 660.0  # the window is 10 minutes: never wait longer than that and a minute
QUERY_LIMIT = "QUERY_LIMIT_EXCEEDED"
OPERATION_LIMIT = "OPERATION_TIME_LIMIT"


class B24Error(ApiError):
    """A method-level error answer (`{"error", "error_description"}`), redacted."""

    def __init__(self, method: str, code: Any, description: str, status: int | None = None):
        self.method = method
        self.code = str(code or "")
        self.description = redact(str(description or ""))
        text = f"{method}: {self.description or self.code or 'error'}"
        if self.code and self.code != self.description:
            text += f" ({self.code})"
        super().__init__(text, status=status)


def is_refused(response: httpx.Response) -> bool:
    """503 QUERY_LIMIT_EXCEEDED: the portal's bucket refused the request before running it."""
    if response.status_code != 503:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") == QUERY_LIMIT


# --- the operating budget, as the portal reports it -----------------------------------------


@dataclass
class _MethodBudget:
    operating: float = 0.0
    reset_at: float = 0.0
    cost: float = 0.0  # the largest execution time one call of this method took


@dataclass
class OperatingBudget:
    limit: float = OPERATING_LIMIT
    margin: float = OPERATING_MARGIN
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    methods: dict[str, _MethodBudget] = field(default_factory=dict)
    waited: float = 0.0
    pauses: int = 0

    def observe(self, method: str, time_: Any) -> None:
        """Remember what the portal said about `method` in a `time` member."""
        if not isinstance(time_, Mapping):
            return
        budget = self.methods.setdefault(method.lower(), _MethodBudget())
        operating = _number(time_.get("operating"))
        if operating is not None:
            budget.operating = operating
        reset_at = _number(time_.get("operating_reset_at"))
        if reset_at is not None:
            budget.reset_at = reset_at
        duration = _number(time_.get("duration"))
        if duration is not None:
            budget.cost = max(budget.cost, duration)

    def before(self, calls: Mapping[str, int]) -> None:
        """Sleep until the portal's budget has room for `calls` (method → how many calls)."""
        for method, count in calls.items():
            budget = self.methods.get(method.lower())
            if budget is None:
                continue
            if budget.operating + budget.cost * count <= self.limit * (1 - self.margin):
                continue
            self.wait(method)

    def wait(self, method: str) -> None:
        """Pause `method` until its oldest basket drops out (or a minute, when the portal said nothing)."""
        budget = self.methods.setdefault(method.lower(), _MethodBudget())
        now = self.clock()
        delay = budget.reset_at - now + 1.0 if budget.reset_at > now else 60.0
        delay = min(max(delay, 1.0), MAX_OPERATING_WAIT)
        self.pauses += 1
        self.waited += delay
        self.sleep(delay)
        budget.operating = 0.0  # unknown until the next answer; the portal tells again


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            try:  # one doc example prints operating_reset_at as an ISO string
                from datetime import datetime

                return datetime.fromisoformat(value).timestamp()
            except ValueError:
                return None
    return None


# --- batch commands ---------------------------------------------------------------------------


def encode_query(params: Mapping[str, Any]) -> str:
    """PHP bracket syntax (§2): `filter[>ID]=5&select[0]=ID`. `$result[...]` references stay literal."""
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}[{key}]" if prefix else str(key), item)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(f"{prefix}[{i}]", item)
        else:
            pairs.append((prefix, _scalar(value)))

    walk("", params)
    return "&".join(f"{quote(k, safe='[]')}={_quote_value(v)}" for k, v in pairs)


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Y" if value else "N"
    return str(value)


def _quote_value(value: str) -> str:
    if value.startswith("$result[") and value.endswith("]"):
        return value
    return quote(value, safe="")


@dataclass(frozen=True)
class Command:
    label: str
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        query = encode_query(self.params)
        return f"{self.method}?{query}" if query else self.method


@dataclass
class BatchAnswer:
    results: dict[str, Any]
    errors: dict[str, B24Error]
    times: dict[str, Any]
    started: float | None = None  # the portal's clock when the batch began (`time.start`)


@dataclass
class ChainPage:
    rows: list[dict[str, Any]]
    finished: bool  # the list ended on this request
    started: float | None  # the portal's clock when the request began


# --- the API -----------------------------------------------------------------------------------


class Bitrix24Api:
    """One portal's REST API through `http` (whose base URL is the webhook or `https://PORTAL/rest`)."""

    def __init__(self, http: HttpClient, *, budget: OperatingBudget | None = None):
        self.http = http
        self.budget = budget or OperatingBudget()

    # one call ---------------------------------------------------------------------------------
    def call(self, method: str, params: Mapping[str, Any] | None = None, *, write: bool = False) -> dict[str, Any]:
        """The whole envelope (`result`, `total`, `next`, `time`) of one call; errors raise B24Error."""
        for _attempt in range(3):
            self.budget.before({method: 1})
            data = self._post(method, dict(params or {}), write=write)
            if isinstance(data, dict) and data.get("error") == OPERATION_LIMIT:
                self.budget.wait(method)
                continue
            if not isinstance(data, dict) or "error" in data:
                body = data if isinstance(data, dict) else {}
                raise B24Error(method, body.get("error"), body.get("error_description") or str(data)[:200])
            self.budget.observe(method, data.get("time"))
            return data
        raise RuntimeFailure(say(_MESSAGES, "blocked", method=method))

    def result(self, method: str, params: Mapping[str, Any] | None = None, *, write: bool = False) -> Any:
        return self.call(method, params, write=write).get("result")

    def _post(self, method: str, body: dict[str, Any], *, write: bool) -> Any:
        while True:
            try:
                return self.http.post(f"/{method}", json=body, idempotent=not write)
            except RateLimited as error:
                if not (isinstance(error.body, dict) and error.body.get("error") == OPERATION_LIMIT):
                    raise
                # the HttpClient's own retries could not outwait a 10-minute window: wait it out here
                for name in _methods_of(method, body):
                    self.budget.wait(name)
            except HttpError as error:
                body_ = error.body if isinstance(error.body, dict) else {}
                if body_.get("error") is not None or body_.get("error_description"):
                    raise B24Error(method, body_.get("error"), body_.get("error_description") or "",
                                   status=error.status) from None
                raise

    # batch ----------------------------------------------------------------------------------------
    def batch(self, commands: Sequence[Command], *, write: bool = False, halt: bool = False) -> BatchAnswer:
        """Run commands in batches of 50 (one HTTP request each); commands refused by the operating limit
        are re-sent after waiting. Errors of the commands are returned, not raised."""
        out = BatchAnswer({}, {}, {})
        for start in range(0, len(commands), MAX_BATCH):
            pending = list(commands[start:start + MAX_BATCH])
            for _round in range(4):
                answer = self._batch_once(pending, write=write, halt=halt)
                out.results.update(answer.results)
                out.times.update(answer.times)
                refused = [c for c in pending if (e := answer.errors.get(c.label)) is not None
                           and e.code in (OPERATION_LIMIT, QUERY_LIMIT)]
                out.errors.update({k: v for k, v in answer.errors.items()
                                   if k not in {c.label for c in refused}})
                if not refused:
                    break
                for method in {c.method for c in refused}:
                    self.budget.wait(method)
                pending = refused
            else:
                raise RuntimeFailure(say(_MESSAGES, "batch"))
        return out

    def _batch_once(self, commands: Sequence[Command], *, write: bool, halt: bool) -> BatchAnswer:
        counts: dict[str, int] = {}
        for c in commands:
            counts[c.method] = counts.get(c.method, 0) + 1
        self.budget.before(counts)
        body = {"halt": 1 if halt else 0, "cmd": {c.label: c.text() for c in commands}}
        data = self._post("batch", body, write=write)
        if not isinstance(data, dict) or "error" in data:
            body_ = data if isinstance(data, dict) else {}
            raise B24Error("batch", body_.get("error"), body_.get("error_description") or str(data)[:200])
        inner = data.get("result") or {}
        methods = {c.label: c.method for c in commands}
        results = _keyed(inner.get("result"))
        times = _keyed(inner.get("result_time"))
        for label, time_ in times.items():
            self.budget.observe(methods.get(label, "batch"), time_)
        errors: dict[str, B24Error] = {}
        raw_errors = inner.get("result_error")
        if isinstance(raw_errors, list):  # observed: a list when PHP saw keys 0..n-1 (§7)
            labels = [c.label for c in commands if c.label not in results]
            raw_errors = dict(zip(labels, raw_errors))
        for label, e in (raw_errors or {}).items():
            e = e if isinstance(e, dict) else {}
            errors[str(label)] = B24Error(methods.get(str(label), "batch"), e.get("error"),
                                          e.get("error_description") or "")
        time_ = data.get("time") if isinstance(data.get("time"), dict) else {}
        return BatchAnswer(results, errors, times, _number(time_.get("start")))

    # the export -----------------------------------------------------------------------------------
    def export_chain(self, method: str, params: Mapping[str, Any] | None = None, *, after_id: int = 0,
                     **options: Any) -> Iterator[list[dict[str, Any]]]:
        """Yield the rows of every HTTP request (≤ 2,500), ids ascending, from `after_id` on (§6, §7).

        Options as for `chain_page`."""
        last = after_id
        while True:
            page = self.chain_page(method, params, after_id=last, **options)
            if page.rows:
                last = int(page.rows[-1][options.get("id_key", "ID")])
            yield page.rows
            if page.finished:
                return

    def chain_page(self, method: str, params: Mapping[str, Any] | None = None, *, after_id: int = 0,
                   items_key: str | None = None, filter_key: str = "filter", id_key: str = "ID",
                   order: Mapping[str, Any] | None = None, start: int = -1) -> ChainPage:
        """One `batch` of 50 chained `start=-1` pages after `after_id`: its rows, and whether the list ended.

        `items_key`: where the rows sit in a result (`items` for crm.stagehistory.list);
        `filter_key`/`order`: the parameter spellings of methods like user.get (`FILTER`, `sort`/`order`);
        `start`: 0 for a method whose docs promise offsets only (each page then counts its total).
        """
        params = dict(params or {})
        base_filter = dict(params.pop(filter_key, {}) or {})
        path = f"[{items_key}]" if items_key else ""
        commands = []
        for i in range(MAX_BATCH):
            cursor = after_id if i == 0 else f"$result[c{i - 1}]{path}[{PAGE - 1}][{id_key}]"
            command_params = {**params, filter_key: {**base_filter, f">{id_key}": cursor}, "start": start}
            command_params.update(order if order is not None else {"order": {id_key: "ASC"}})
            commands.append(Command(f"c{i}", method, command_params))
        answer = self._batch_once(commands, write=False, halt=False)
        rows: list[dict[str, Any]] = []
        for command in commands:
            error = answer.errors.get(command.label)
            if error is not None:
                if error.code in (OPERATION_LIMIT, QUERY_LIMIT):
                    self.budget.wait(method)
                    return ChainPage(rows, False, answer.started)  # go on from the last full page after the wait
                raise error
            page = answer.results.get(command.label)
            if isinstance(page, dict) and items_key:
                page = page.get(items_key)
            page = list(page or [])
            rows.extend(page)
            if len(page) < PAGE:
                return ChainPage(rows, True, answer.started)
        return ChainPage(rows, False, answer.started)


def _keyed(value: Any) -> dict[str, Any]:
    """A batch member keyed by label: PHP sends `[]` when empty and a list when labels were 0..n-1."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return {}


def _methods_of(method: str, body: Mapping[str, Any]) -> set[str]:
    if method != "batch":
        return {method}
    commands = body.get("cmd") or {}
    return {str(c).split("?", 1)[0] for c in commands.values()} or {method}


class OAuthQueryTransport(httpx.BaseTransport):
    """Bitrix24 takes an OAuth access token as `auth=` (query or body), not as a header (§1.1): move it.

    The HttpClient's auth (an OAuth2Session that refreshes on 401 `expired_token`)
    still produces `Authorization: Bearer …`; this transport rewrites each
    request so the portal sees `?auth=…`. Redaction masks `auth=` in URLs.
    """

    def __init__(self, inner: httpx.BaseTransport | None = None):
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            token = header.split(" ", 1)[1].strip()
            del request.headers["Authorization"]
            request.url = request.url.copy_merge_params({"auth": token})
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
