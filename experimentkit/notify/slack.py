"""``SlackObserver``: posts to a Slack incoming webhook when a run completes, is interrupted or fails
(Sacred's constructor and ``from_config``)."""

from __future__ import annotations

from typing import Optional

from .base import NotifyingObserver, post_json, redact_url

__all__ = ["SlackObserver", "DEFAULT_SLACK_PRIORITY"]

DEFAULT_SLACK_PRIORITY = 10


class SlackObserver(NotifyingObserver):
    """Sends ``{"username", "icon_emoji", "text"}`` to ``webhook_url`` (any URL: a test server too)."""

    @classmethod
    def from_config(cls, filename: str) -> SlackObserver:
        """Build from a config file (.json, .yaml, .pickle) with ``webhook_url`` and optionally
        ``bot_name``, ``icon``, ``completed_text``, ``interrupted_text``, ``failed_text``."""
        from ..config.files import load_config_file

        return cls(**load_config_file(filename))

    def __init__(
        self,
        webhook_url: str,
        bot_name: str = "sacred-bot",
        icon: str = ":angel:",
        priority: int = DEFAULT_SLACK_PRIORITY,
        completed_text: Optional[str] = None,
        interrupted_text: Optional[str] = None,
        failed_text: Optional[str] = None,
    ):
        super().__init__()
        self.webhook_url = webhook_url
        self.bot_name = bot_name
        self.icon = icon
        self.priority = priority
        self.completed_text = completed_text or (
            ":white_check_mark: *{experiment[name]}* completed after _{elapsed_time}_ with result=`{result}`"
        )
        self.interrupted_text = interrupted_text or (
            ":warning: *{experiment[name]}* interrupted after _{elapsed_time}_"
        )
        self.failed_text = failed_text or (
            ":x: *{experiment[name]}* failed after _{elapsed_time}_ with `{error}`"
        )

    def __repr__(self) -> str:
        return f"SlackObserver({redact_url(self.webhook_url)!r})"

    def send(self, text: str, event: str) -> None:
        post_json(
            self.webhook_url, {"username": self.bot_name, "icon_emoji": self.icon, "text": text}, "Slack"
        )
