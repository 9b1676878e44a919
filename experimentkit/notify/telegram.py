"""``TelegramObserver``: sends a Telegram message when a run starts, completes, is interrupted or
fails (Sacred's constructor and ``from_config``).

Messages go through the Bot API's ``sendMessage`` over HTTPS (``api_url``, default
``https://api.telegram.org``, so a local server can stand in); a ``bot`` object with
``send_message(chat_id=..., text=..., ...)`` (python-telegram-bot's ``Bot``) is used as given.
"""

from __future__ import annotations

from typing import Any

from .base import NotifyingObserver, post_json

__all__ = ["TelegramObserver", "TelegramBot", "DEFAULT_TELEGRAM_PRIORITY"]

DEFAULT_TELEGRAM_PRIORITY = 10
_TEXTS = ("started_text", "completed_text", "interrupted_text", "failed_text")


class TelegramBot:
    """The one Bot API call the observer needs; the token never appears in messages or errors."""

    def __init__(self, token: str, api_url: str = "https://api.telegram.org"):
        self._token = token
        self.api_url = api_url.rstrip("/")

    def __repr__(self) -> str:
        return f"TelegramBot(api_url={self.api_url!r})"

    def send_message(
        self, chat_id: Any, text: str, disable_notification: bool = False, parse_mode: str = "Markdown"
    ) -> Any:
        """POST ``sendMessage``."""
        return post_json(
            f"{self.api_url}/bot{self._token}/sendMessage",
            {
                "chat_id": chat_id,
                "text": text,
                "disable_notification": disable_notification,
                "parse_mode": parse_mode,
            },
            "Telegram",
        )


class TelegramObserver(NotifyingObserver):
    """Notifies the chat ``chat_id`` through ``bot``."""

    @classmethod
    def from_config(cls, filename: str) -> TelegramObserver:
        """Build from a config file (.json, .yaml, .pickle) with ``token`` and ``chat_id`` and
        optionally ``silent_completion``, ``api_url`` and the four ``*_text`` templates."""
        from ..config.files import load_config_file

        d = dict(load_config_file(filename))
        if "token" not in d or "chat_id" not in d:
            raise ValueError("Telegram configuration file must contain entries for 'token' and 'chat_id'!")
        bot = TelegramBot(d.pop("token"), d.pop("api_url", "https://api.telegram.org"))
        texts = {k: d.pop(k) for k in _TEXTS if k in d}
        observer = cls(bot, **d)
        for key, value in texts.items():
            setattr(observer, key, value)
        return observer

    def __init__(
        self,
        bot: Any,
        chat_id: Any,
        silent_completion: bool = False,
        priority: int = DEFAULT_TELEGRAM_PRIORITY,
        **kwargs: Any,
    ):
        super().__init__()
        self.bot = TelegramBot(bot) if isinstance(bot, str) else bot
        self.chat_id = chat_id
        self.silent_completion = silent_completion
        self.priority = priority
        self.started_text = (
            "\u267b *{experiment[name]}* started at _{start_time}_ on host `{host_info[hostname]}`"
        )
        self.completed_text = (
            "\u2705 *{experiment[name]}* completed after _{elapsed_time}_ with result=`{result}`"
        )
        self.interrupted_text = "\u26a0 *{experiment[name]}* interrupted after _{elapsed_time}_"
        self.failed_text = (
            "\u274c *{experiment[name]}* failed after _{elapsed_time}_ with "
            "`{error}`\n\nBacktrace:\n```{backtrace}```"
        )

    def __repr__(self) -> str:
        return f"TelegramObserver(chat_id={self.chat_id!r})"

    def send(self, text: str, event: str) -> None:
        quiet = event == "started" or (event == "completed" and self.silent_completion)
        self.bot.send_message(
            chat_id=self.chat_id, text=text, disable_notification=quiet, parse_mode="Markdown"
        )
