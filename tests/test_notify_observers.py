"""Slack and Telegram observers against a local HTTP server standing in for their APIs."""

import http.server
import json
import threading

import pytest

pytest.importorskip("requests")


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, json.loads(body)))
        status = 404 if "wrong" in self.path else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    httpd.received = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(server, path):
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def _experiment(observer, fail=False):
    from experimentkit import Experiment

    ex = Experiment("notified")
    ex.observers.append(observer)

    @ex.main
    def main():
        if fail:
            raise ValueError("boom")
        return 42

    return ex


def test_slack_posts_completion_and_failure(server, tmp_path):
    from experimentkit.observers import SlackObserver

    config = tmp_path / "slack.json"
    config.write_text(
        json.dumps({"webhook_url": _url(server, "/services/T000/B000/secret"), "bot_name": "ek-bot"})
    )
    observer = SlackObserver.from_config(str(config))
    _experiment(observer).run()
    with pytest.raises(ValueError):
        _experiment(observer, fail=True).run()
    assert [path for path, _ in server.received] == ["/services/T000/B000/secret"] * 2
    done, failed = (payload for _, payload in server.received)
    assert done["username"] == "ek-bot" and done["icon_emoji"] == ":angel:"
    assert done["text"].startswith(":white_check_mark: *notified* completed after _0:00:0")
    assert done["text"].endswith("with result=`42`")
    assert failed["text"].startswith(":x: *notified* failed after _0:00:0")
    assert failed["text"].endswith("with `ValueError: boom`")
    assert "secret" not in repr(observer)


def test_telegram_sends_start_and_end_through_the_bot_api(server, tmp_path):
    from experimentkit.observers import TelegramObserver

    config = tmp_path / "telegram.json"
    config.write_text(
        json.dumps(
            {
                "token": "123:SECRET",
                "chat_id": 99,
                "silent_completion": True,
                "api_url": _url(server, ""),
                "completed_text": "done {experiment[name]} -> {result}",
            }
        )
    )
    observer = TelegramObserver.from_config(str(config))
    _experiment(observer).run()
    paths = [path for path, _ in server.received]
    assert paths == ["/bot123:SECRET/sendMessage"] * 2
    started, done = (payload for _, payload in server.received)
    assert started["chat_id"] == 99 and started["disable_notification"] is True
    assert started["text"].startswith("\u267b *notified* started at _")
    assert started["parse_mode"] == "Markdown"
    assert done == {
        "chat_id": 99,
        "text": "done notified -> 42",
        "disable_notification": True,
        "parse_mode": "Markdown",
    }


def test_telegram_config_needs_token_and_chat(tmp_path):
    from experimentkit.observers import TelegramObserver

    config = tmp_path / "telegram.json"
    config.write_text(json.dumps({"token": "x"}))
    with pytest.raises(ValueError, match="must contain entries for 'token' and 'chat_id'"):
        TelegramObserver.from_config(str(config))


def test_refused_message_names_the_service_not_the_secret(server):
    from experimentkit.errors import ObserverError
    from experimentkit.notify.base import post_json

    with pytest.raises(ObserverError) as info:
        post_json(_url(server, "/wrong/TOKEN123"), {"text": "x"}, "Slack")
    assert "Slack refused the message (404)" in str(info.value)
    assert "TOKEN123" not in str(info.value)


def test_a_failing_notification_does_not_fail_the_run(tmp_path, monkeypatch, caplog):
    from experimentkit import SETTINGS
    from experimentkit.observers import SlackObserver

    monkeypatch.setitem(SETTINGS, "OBSERVER_RETRY_SECONDS", 0.5)
    monkeypatch.setitem(SETTINGS, "FALLBACK_DIR", str(tmp_path / "fallback"))
    observer = SlackObserver("http://127.0.0.1:9/hooks/SECRET")  # nothing listens on port 9
    run = _experiment(observer).run()
    assert run.status == "COMPLETED" and run.result == 42
    assert "Slack: cannot reach http://127.0.0.1:9/***" in caplog.text
    assert "SECRET" not in caplog.text
