"""Keys go only to their own host, and no key, credential or Authorization header is ever written:
real stages run against servers on 127.0.0.1 that fail in different ways, then every file the run
wrote (warehouse, snapshot, call cache, batch files, Dagster's storage) is scanned for the keys."""

from pathlib import Path

import dagster as dg
import pytest

from resources import build_resources
from resources.llm.secrets import redact
from resources.settings import SettingsError, load_settings
from tests.conftest import free_port, write_settings
from tests.helpers.json_server import JsonHandler, completion, serving

OPENAI_KEY = "sk-test-DO-NOT-LEAK-0123456789abcdef"   # in OPENAI_API_KEY: for api.openai.com only
LOCAL_KEY = "lk-local-DO-NOT-LEAK-9876543210"          # in VIBESCOPE_LOCAL_KEY: paired with one base_url


class Server(JsonHandler):
    """Records the Authorization header of every request; answers per path prefix:
    /ok (a chat completion), /echo401 (401 echoing the header), /echo500 (500 with the headers)."""

    seen: list[tuple[str, str]] = []

    def _answer(self):
        auth = self.headers.get("Authorization", "")
        Server.seen.append((self.path, auth))
        if self.path.startswith("/echo401"):
            self.send_json(401, {"error": {"message": f"Incorrect API key provided: {auth}", "type": "auth"}})
        elif self.path.startswith("/echo500"):
            self.send_json(500, {"error": {"message": f"upstream failed; request headers were {dict(self.headers)}"}})
        elif self.command == "GET":
            self.send_json(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})
        else:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_json(200, completion("OK", "m"))

    do_GET = do_POST = _answer


@pytest.fixture
def server():
    Server.seen = []
    with serving(Server) as httpd:
        yield f"http://127.0.0.1:{httpd.server_port}"


def role(name: str, base_url: str, key_env: str = "") -> str:
    pair = f'api_key_env = "{key_env}"\n' if key_env else ""
    return f'[roles.{name}]\nbackend = "openai"\nmodel = "m"\nmax_tokens = 8\nbase_url = "{base_url}"\n{pair}\n'


def test_keys_reach_only_their_own_host_and_are_never_written(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("VIBESCOPE_LOCAL_KEY", LOCAL_KEY)
    refused = f"http://127.0.0.1:{free_port()}/v1"   # nothing listens there
    text = write_settings(tmp_path / "s.toml").read_text()
    for name in ("describer", "classifier", "judge", "oracle"):  # the shipped llamacpp roles go
        start = text.index(f"[roles.{name}]")
        text = text[:start] + text[text.index("\n\n", start) + 2:]
    text += (role("describer", f"{server}/echo401/v1", "VIBESCOPE_LOCAL_KEY")   # paired key, echoed back
             + role("classifier", f"{server}/ok/v1")                             # no key configured
             + role("judge", f"{server}/echo500/v1", "VIBESCOPE_LOCAL_KEY")
             + role("oracle", refused, "VIBESCOPE_LOCAL_KEY"))
    path = tmp_path / "s.toml"
    path.write_text(text.replace("max_retries = 4", "max_retries = 0"))
    monkeypatch.setenv("VIBESCOPE_SETTINGS", str(path))
    home = tmp_path / "dagster_home"
    home.mkdir()

    import definitions

    roles = ["describer", "classifier", "judge", "oracle"]
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        health = dg.materialize(definitions.defs.assets, resources=build_resources(str(path)), instance=instance,
                                selection=["core/role_health"],
                                run_config={"ops": {"core__role_health": {"config": {"roles": roles}}}})
        assert health.success
        failed = dg.materialize(  # the describer's 401 fails this step: its error goes to the event log
            definitions.defs.assets, resources=build_resources(str(path)), instance=instance,
            selection=["arena/battles", "arena/battle_differences"], raise_on_error=False,
            run_config={"ops": {"arena__battles": {"config": {"num_samples": 2}}}})
        assert not failed.success
        batched = dg.materialize(  # batch files written for the same role (then the step waits)
            definitions.defs.assets, resources=build_resources(str(path)), instance=instance,
            selection=["arena/battle_differences"], raise_on_error=False,
            run_config={"ops": {"arena__battle_differences": {"config": {"batches": True}}}})
        assert not batched.success

    from resources.warehouse import Warehouse

    health_rows = Warehouse(settings_file=str(path)).query("SELECT role, ok, error FROM core.role_health")
    by_role = health_rows.set_index("role")
    assert by_role.loc["classifier", "ok"] and not by_role.loc[["describer", "judge", "oracle"], "ok"].any()
    assert "401" in by_role.loc["describer", "error"] and "[redacted]" in by_role.loc["describer", "error"]
    assert "500" in by_role.loc["judge", "error"]
    assert "Connection" in by_role.loc["oracle", "error"]

    # where each key went: the paired key to its own base URLs only, OPENAI_API_KEY nowhere
    sent = {(p.split("/")[1], auth) for p, auth in Server.seen}
    assert ("echo401", f"Bearer {LOCAL_KEY}") in sent and ("echo500", f"Bearer {LOCAL_KEY}") in sent
    assert all(OPENAI_KEY not in auth for _, auth in Server.seen)
    assert all(LOCAL_KEY not in auth for p, auth in Server.seen if p.startswith("/ok"))

    # the scan: a planted control file proves it finds a key, then nothing else may hold one
    (tmp_path / "control.txt").write_text(f"x {LOCAL_KEY} y")
    holding = [f for f in tmp_path.rglob("*") if f.is_file()
               and any(k.encode() in f.read_bytes() for k in (OPENAI_KEY, LOCAL_KEY))]
    assert holding == [tmp_path / "control.txt"], holding
    written = [f for f in tmp_path.rglob("*") if f.is_file()]
    assert any(f.suffix == ".jsonl" and "batches" in f.parts for f in written)  # batch files were scanned
    assert any("dagster_home" in f.parts for f in written)                     # so was Dagster's storage


def test_credentials_in_a_base_url_are_refused_without_echoing_them(tmp_path):
    path = write_settings(tmp_path / "s.toml", role("describer2", "https://alice:hunter2secret@llm.example/v1"))
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert "carries credentials" in str(caught.value) and "hunter2secret" not in str(caught.value)
    assert "alice" not in str(caught.value)


def test_redact_scrubs_keys_headers_and_url_credentials(monkeypatch):
    monkeypatch.setenv("SOME_SERVICE_API_KEY", "abcdef123456")
    text = ("Authorization: Bearer tok.en-1 | {'authorization': 'Bearer zz9'} | api_key=qwerty123 | "
            "https://u:p@host/v1 | sk-proj-0123456789ABCDEF | got abcdef123456")
    clean = redact(text)
    for secret in ("tok.en-1", "zz9", "qwerty123", "u:p@", "sk-proj-0123456789ABCDEF", "abcdef123456"):
        assert secret not in clean, (secret, clean)
    assert redact("Error code: 401 - nothing secret here") == "Error code: 401 - nothing secret here"


def test_a_base_url_without_its_own_key_gets_none(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    path = write_settings(tmp_path / "s.toml", role("local", f"{server}/ok/v1"))
    # the shared [backends.openai] base_url without an api_key_env: no key either
    path.write_text(path.read_text().replace('base_url = ""', f'base_url = "{server}/ok/v1"', 1))
    from resources.llm import LLM

    llm = LLM(settings_file=str(path), cache_path=str(tmp_path / "c.sqlite"))
    assert llm.client("local").chat([{"role": "user", "content": "hi"}]).text == "OK"
    shared = load_settings(path).role("describer").model_copy(update={"backend": "openai", "model": "m"})
    from resources.llm.backends import get_backend

    assert get_backend(shared, load_settings(path)).client.api_key == "no-key"
    assert Server.seen and all(OPENAI_KEY not in auth for _, auth in Server.seen)
    assert not Path(tmp_path / "c.sqlite").read_bytes().count(OPENAI_KEY.encode())
