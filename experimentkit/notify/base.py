"""What the Slack and Telegram observers share: the run's facts for message templates, and a JSON POST
that never shows a secret (webhook URLs and bot tokens are credentials).

Sending errors propagate so the dispatcher retries a transient failure; a refused request (4xx: a
wrong webhook or token) is an ``ObserverError`` naming the service, not the secret.  Neither observer
offers ``replay_spec``: replaying would write the secret into the fallback journal.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

from ..errors import ObserverError
from ..observers.base import RunObserver, td_format

__all__ = ["NotifyingObserver", "post_json", "redact_url"]

_TIMEOUT = 10.0


def redact_url(url: str) -> str:
    """``url`` with its path and credentials hidden (``https://hooks.slack.com/***``)."""
    match = re.match(r"([a-z][a-z0-9+.-]*://)(?:[^@/]*@)?([^/]+)", str(url), re.IGNORECASE)
    return f"{match.group(1)}{match.group(2)}/***" if match else "***"


def post_json(url: str, payload: dict, service: str) -> Any:
    """POST ``payload`` as JSON; errors name ``service`` and the redacted URL only."""
    import requests

    try:
        response = requests.post(
            url,
            data=json.dumps(payload),
            timeout=_TIMEOUT,
            headers={"Content-type": "application/json", "Accept": "text/plain"},
        )
    except requests.RequestException as exc:  # connection refused, timeout: retried by the dispatcher
        raise ConnectionError(f"{service}: cannot reach {redact_url(url)}: {type(exc).__name__}") from None
    if 400 <= response.status_code < 500:
        raise ObserverError(
            f"{service} refused the message ({response.status_code}) at "
            f"{redact_url(url)}: check the webhook URL / token"
        )
    if response.status_code >= 500:
        raise ConnectionError(f"{service} answered {response.status_code} at {redact_url(url)}")
    return response


class NotifyingObserver(RunObserver):
    """Keeps the facts templates may use: ``{experiment[name]}``, ``{_id}``, ``{config}``,
    ``{start_time}``, ``{host_info[hostname]}``, ``{command}``, ``{elapsed_time}``, ``{result}``,
    ``{error}``, ``{status}``."""

    priority = 10
    started_text: Optional[str] = None
    completed_text: Optional[str] = None
    interrupted_text: Optional[str] = None
    failed_text: Optional[str] = None

    def __init__(self) -> None:
        self.run: Optional[dict] = None

    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):
        self.run = {
            "_id": _id,
            "config": config,
            "start_time": start_time,
            "experiment": ex_info,
            "command": command,
            "host_info": host_info,
        }
        if self.started_text is not None:
            self.send(self.get_started_text(), "started")
        return None

    def completed_event(self, stop_time, result):
        if self.completed_text is None:
            return
        self.run.update(
            result=result, stop_time=stop_time, elapsed_time=td_format(stop_time - self.run["start_time"])
        )
        self.send(self.get_completed_text(), "completed")

    def interrupted_event(self, interrupt_time, status):
        if self.interrupted_text is None:
            return
        self.run.update(
            status=status,
            interrupt_time=interrupt_time,
            elapsed_time=td_format(interrupt_time - self.run["start_time"]),
        )
        self.send(self.get_interrupted_text(), "interrupted")

    def failed_event(self, fail_time, fail_trace):
        if self.failed_text is None:
            return
        self.run.update(
            fail_trace=fail_trace,
            error=(fail_trace or [""])[-1].strip(),
            fail_time=fail_time,
            elapsed_time=td_format(fail_time - self.run["start_time"]),
        )
        self.send(self.get_failed_text(), "failed")

    def _format(self, template: Optional[str], **extra: Any) -> str:
        """The message for one event: its template filled from the run's fields (set at start)."""
        if template is None or self.run is None:
            raise ValueError("no message template, or the run has not started")
        return template.format(**extra, **self.run)

    def get_started_text(self) -> str:
        return self._format(self.started_text)

    def get_completed_text(self) -> str:
        return self._format(self.completed_text)

    def get_interrupted_text(self) -> str:
        return self._format(self.interrupted_text)

    def get_failed_text(self) -> str:
        trace = "".join((self.run or {}).get("fail_trace") or ())
        return self._format(self.failed_text, backtrace=trace)

    def send(self, text: str, event: str) -> None:
        """Deliver one message (``event`` is ``started``/``completed``/``interrupted``/``failed``)."""
        raise NotImplementedError
