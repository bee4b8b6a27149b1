"""Checks of infra/ and scripts/deploy that need no cloud account.

Terraform: `terraform fmt -check` where terraform is installed, and everywhere a parse of every .tf
file with python-hcl2 plus assertions on what the parsed configuration says (`terraform validate`
would need the google provider, which cannot be downloaded here). The runner VM: `bash -n` and
shellcheck on the start-up script, its metadata handling against a fake metadata server on
loopback, and `systemd-analyze verify` of the unit. The deploy script: `--dry-run` output, and
the functions' source zip it builds, served by functions-framework.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import importlib.util
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "infra" / "terraform"
STARTUP = ROOT / "infra" / "runner-vm" / "startup.sh"
UNIT = ROOT / "infra" / "systemd" / "fiddle-runner.service"
DEPLOY = ROOT / "scripts" / "deploy"

TARGETS = {"run", "name", "upload", "pages", "admin"}
NO_HCL2 = "python-hcl2 is not installed (pip install python-hcl2)"
HEALTH_CHECK_RANGES = {"35.191.0.0/16", "130.211.0.0/22"}
CONNECTOR_RANGE = "${var.connector_cidr}"
RUNNER_SA = "google_service_account.runner."
FUNCTIONS_SA = "google_service_account.functions."
# The paths the load balancer must send to the functions rather than to the static site.
API_PATHS = {
    "/_/*",
    "/c/*",
    "/iframe/*",
    "/e/*",
    "/i/*",
    "/ai/*",
    "/s/*",
    "/named/*",
    "/admin/*",
    "/oembed",
    "/signin",
    "/signout",
    "/healthz",
}


# ---------------------------------------------------------------------------------------------
# Terraform


def _unquote(text: str) -> str:
    # python-hcl2 8 keeps the quotes of string literals and block labels; older versions drop them.
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            _unquote(key): _clean(item)
            for key, item in value.items()
            if key not in ("__is_block__", "__comments__")
        }
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, str):
        return _unquote(value)
    return value


def _block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The one nested block NAME of BODY."""
    blocks = body.get(name)
    assert isinstance(blocks, list) and len(blocks) == 1, f"expected one {name} block"
    return blocks[0]


@pytest.fixture(scope="module")
def tf() -> dict[str, dict[str, Any]]:
    """Every .tf file, parsed and merged: {"resource": {type: {name: body}}, "locals": ...}."""
    hcl2 = pytest.importorskip("hcl2", reason=NO_HCL2)
    merged: dict[str, dict[str, Any]] = {
        "resource": {},
        "data": {},
        "locals": {},
        "variable": {},
        "output": {},
    }
    for path in sorted(TERRAFORM.glob("*.tf")):
        with path.open() as file:
            document = _clean(hcl2.load(file))
        for kind in ("resource", "data"):
            for entry in document.get(kind, []):
                for rtype, named in entry.items():
                    for name, body in named.items():
                        assert name not in merged[kind].get(rtype, {}), f"{rtype}.{name} twice"
                        merged[kind].setdefault(rtype, {})[name] = body
        for entry in document.get("locals", []):
            merged["locals"].update(entry)
        for kind in ("variable", "output"):
            for entry in document.get(kind, []):
                merged[kind].update(entry)
    return merged


def _resources(tf: dict[str, dict[str, Any]], rtype: str) -> dict[str, dict[str, Any]]:
    return tf["resource"].get(rtype, {})


def _resource(tf: dict[str, dict[str, Any]], rtype: str, name: str) -> dict[str, Any]:
    body = _resources(tf, rtype).get(name)
    assert body is not None, f"no resource {rtype}.{name}"
    return body


def _grants(tf: dict[str, dict[str, Any]], account: str) -> set[tuple[str, str, str]]:
    """(resource type, role, what it is on) of every IAM grant to the service account."""
    grants = set()
    for rtype, named in tf["resource"].items():
        if "_iam_" not in rtype:
            continue
        for body in named.values():
            members = [body.get("member", ""), *body.get("members", [])]
            if any(account in member for member in members):
                target = body.get("bucket") or body.get("secret_id") or body.get("project", "")
                grants.add((rtype, body["role"], target))
    return grants


def test_terraform_fmt() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed here (it is in neither Debian nor PyPI)")
    done = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_tf_file_parses() -> None:
    hcl2 = pytest.importorskip("hcl2", reason=NO_HCL2)
    files = sorted(TERRAFORM.glob("*.tf"))
    assert {path.name for path in files} >= {"main.tf", "variables.tf", "outputs.tf", "versions.tf"}
    for path in files:
        with path.open() as file:
            assert hcl2.load(file), f"{path.name} is empty"


def test_google_provider_and_no_hardcoded_project(tf: dict[str, dict[str, Any]]) -> None:
    assert {"project", "region", "env_name"} <= set(tf["variable"])
    text = "\n".join(path.read_text() for path in TERRAFORM.glob("*.tf"))
    assert 'source  = "hashicorp/google"' in text
    assert not re.search(r'\bproject\s*=\s*"', text), "the project must come from var.project"
    assert not re.search(r'\bregion\s*=\s*"', text), "the region must come from var.region"


def test_fiddle_bucket(tf: dict[str, dict[str, Any]]) -> None:
    bucket = _resource(tf, "google_storage_bucket", "fiddle")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert _block(bucket, "versioning")["enabled"] is False
    rules = bucket["lifecycle_rule"]
    deletes = [rule for rule in rules if _block(rule, "action")["type"] == "Delete"]
    assert deletes, "scratch objects should expire"
    for rule in deletes:
        # Never an age-based deletion of fiddles: only the tmp/ scratch prefix expires.
        assert _block(rule, "condition").get("matches_prefix") == ["tmp/"]


def test_site_bucket_behind_cdn(tf: dict[str, dict[str, Any]]) -> None:
    site = _resource(tf, "google_storage_bucket", "site")
    assert site["uniform_bucket_level_access"] is True
    backend = _resource(tf, "google_compute_backend_bucket", "site")
    assert backend["enable_cdn"] is True
    assert backend["bucket_name"] == "${google_storage_bucket.site.name}"
    database = _resource(tf, "google_firestore_database", "main")
    assert database["type"] == "FIRESTORE_NATIVE"


def test_only_the_pages_function_is_behind_the_cdn_and_only_as_it_says(
    tf: dict[str, dict[str, Any]],
) -> None:
    """Outputs (/i/, /ai/) are served by the pages function; Cloud CDN keeps what its
    Cache-Control allows (never the `private` outputs of source images, which an admin can
    withdraw) and no error answers."""
    backend = _resource(tf, "google_compute_backend_service", "function")
    assert backend["enable_cdn"] == '${each.key == "pages"}'
    dynamic = _block(backend, "dynamic")["cdn_policy"]
    assert dynamic["for_each"] == '${each.key == "pages" ? [1] : []}'
    policy = dynamic["content"][0] if isinstance(dynamic["content"], list) else dynamic["content"]
    assert policy["cache_mode"] == "USE_ORIGIN_HEADERS"
    assert policy["negative_caching"] is False
    routes = tf["locals"]["routes"]
    assert {"/i/*", "/ai/*", "/s/*"} <= set(routes["pages"])


def test_the_site_bucket_lets_other_sites_load_the_embed_script(
    tf: dict[str, dict[str, Any]],
) -> None:
    """<fiddle-embed> is a module script, which browsers fetch with CORS from other sites."""
    cors = _block(_resource(tf, "google_storage_bucket", "site"), "cors")
    assert cors["origin"] == ["*"]
    assert "GET" in cors["method"]


def test_the_bucket_serves_the_editor_page_with_the_pages_headers(
    tf: dict[str, dict[str, Any]],
) -> None:
    """/ is the static index.html (fiddle build-site), with the headers fiddle serve gives it."""
    from functions.headers import content_security_policy
    from functions.routing import DEFAULT_POLICY

    site = _resource(tf, "google_storage_bucket", "site")
    assert _block(site, "website")["main_page_suffix"] == "index.html"
    routed = [path for paths in tf["locals"]["routes"].values() for path in paths]
    assert "/" not in routed, "/ must fall through to the site bucket"
    headers = _resource(tf, "google_compute_backend_bucket", "site")["custom_response_headers"]
    assert headers == [
        "Content-Security-Policy: ${local.page_policy}",
        "X-Frame-Options: DENY",
        "X-Content-Type-Options: nosniff",
    ]
    assert tf["locals"]["page_policy"] == content_security_policy(DEFAULT_POLICY, "")


def test_runner_service_account_may_only_log(tf: dict[str, dict[str, Any]]) -> None:
    assert _grants(tf, RUNNER_SA) == {
        ("google_project_iam_member", "roles/logging.logWriter", "${var.project}"),
        ("google_project_iam_member", "roles/monitoring.metricWriter", "${var.project}"),
    }


def test_functions_service_account_least_privilege(tf: dict[str, dict[str, Any]]) -> None:
    assert _grants(tf, FUNCTIONS_SA) == {
        (
            "google_storage_bucket_iam_member",
            "roles/storage.objectAdmin",
            "${google_storage_bucket.fiddle.name}",
        ),
        ("google_project_iam_member", "roles/datastore.user", "${var.project}"),
        (
            "google_secret_manager_secret_iam_member",
            "roles/secretmanager.secretAccessor",
            "${data.google_secret_manager_secret.secret_key.secret_id}",
        ),
    }


def test_no_authoritative_iam(tf: dict[str, dict[str, Any]]) -> None:
    # *_iam_binding and *_iam_policy replace every other grant of a role: members only.
    authoritative = [rtype for rtype in tf["resource"] if rtype.endswith(("_binding", "_policy"))]
    assert authoritative == []


def test_runner_firewall(tf: dict[str, dict[str, Any]]) -> None:
    connector = _resource(tf, "google_vpc_access_connector", "functions")
    assert connector["ip_cidr_range"] == CONNECTOR_RANGE
    rules = _resources(tf, "google_compute_firewall")
    allows = {name: rule for name, rule in rules.items() if "allow" in rule}
    assert allows, "the runners need an allow rule"
    for name, rule in rules.items():
        assert rule["direction"] == "INGRESS", name
        assert rule["target_service_accounts"] == ["${google_service_account.runner.email}"], name
    for name, rule in allows.items():
        assert set(rule["source_ranges"]) == {CONNECTOR_RANGE, *HEALTH_CHECK_RANGES}, name
        assert len(rule["source_ranges"]) == 3, name
        assert _block(rule, "allow")["ports"] == ["${tostring(var.runner_port)}"], name
    denies = [rule for rule in rules.values() if "deny" in rule]
    assert denies and all(rule["source_ranges"] == ["0.0.0.0/0"] for rule in denies)
    assert max(rule["priority"] for rule in allows.values()) < min(r["priority"] for r in denies)


def test_function_targets(tf: dict[str, dict[str, Any]]) -> None:
    # Every routed target, and the job worker, which Cloud Scheduler calls (jobs.tf).
    assert set(tf["locals"]["functions"]) == TARGETS | {"jobs"}
    function = _resource(tf, "google_cloudfunctions2_function", "function")
    assert function["for_each"] == "${local.functions}"
    build = _block(function, "build_config")
    assert build["entry_point"] == "${each.key}"
    assert build["runtime"] == "python311"
    source = _block(_block(build, "source"), "storage_source")
    assert source["object"] == "${var.functions_source_object}"
    service = _block(function, "service_config")
    assert service["ingress_settings"] == (
        '${each.key == "jobs" ? "ALLOW_ALL" : "ALLOW_INTERNAL_AND_GCLB"}'
    )
    assert service["vpc_connector"] == "${google_vpc_access_connector.functions.id}"
    assert service["service_account_email"] == "${google_service_account.functions.email}"
    assert service["environment_variables"] == "${local.functions_env}"
    env = tf["locals"]["functions_env"]
    assert env["FIDDLE_BLOB_STORE"] == "gcs" and env["FIDDLE_DOC_STORE"] == "firestore"
    assert {
        "FIDDLE_BUCKET",
        "GOOGLE_CLOUD_PROJECT",
        "FIDDLE_RUNNERS",
        "FIDDLE_RUNNER_AUDIENCE",
        "FIDDLE_PUBLIC_URL",
    } <= set(env)
    # Behind the load balancer: its two addresses in X-Forwarded-For (functions/app.py).
    assert env["FIDDLE_TRUSTED_PROXIES"] == "2"
    assert "FIDDLE_SECRET_KEY" not in env, "the secret comes from Secret Manager"
    assert _block(service, "secret_environment_variables")["key"] == "FIDDLE_SECRET_KEY"


def test_the_job_worker_is_called_by_the_scheduler_alone(tf: dict[str, dict[str, Any]]) -> None:
    """No route and no public invoker leads to the jobs function; the scheduler's own account
    calls it with an OIDC token for its URL."""
    for kind, name in (
        ("google_cloud_run_v2_service_iam_member", "public_invoker"),
        ("google_compute_region_network_endpoint_group", "function"),
        ("google_compute_backend_service", "function"),
    ):
        assert _resource(tf, kind, name)["for_each"] == "${local.routed_functions}"
    invoker = _resource(tf, "google_cloud_run_v2_service_iam_member", "scheduler_invokes_jobs")
    assert invoker["member"] == "serviceAccount:${google_service_account.scheduler.email}"
    job = _resource(tf, "google_cloud_scheduler_job", "jobs")
    target = _block(job, "http_target")
    token = _block(target, "oidc_token")
    assert token["service_account_email"] == "${google_service_account.scheduler.email}"
    assert target["uri"] == token["audience"]
    assert "jobs" in target["uri"]


def test_function_targets_exist_in_functions_main() -> None:
    main = ROOT / "functions" / "main.py"
    if not main.exists():
        pytest.skip("functions/main.py is not there yet")
    tree = ast.parse(main.read_text())
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert defined >= TARGETS
    from functions.routing import TARGETS as DECLARED

    assert set(DECLARED) == TARGETS


def test_url_map(tf: dict[str, dict[str, Any]]) -> None:
    routes = tf["locals"]["routes"]
    assert set(routes) == TARGETS
    paths = [path for group in routes.values() for path in group]
    assert len(paths) == len(set(paths)), "a path in two rules"
    assert set(paths) >= API_PATHS
    url_map = _resource(tf, "google_compute_url_map", "site")
    assert url_map["default_service"] == "${google_compute_backend_bucket.site.id}"
    matcher = _block(url_map, "path_matcher")
    dynamic = _block(matcher, "dynamic")["path_rule"]
    assert dynamic["for_each"] == "${local.routes}"
    content = _block(dynamic, "content")
    assert content["service"] == "${google_compute_backend_service.function[path_rule.key].id}"
    negs = _resource(tf, "google_compute_region_network_endpoint_group", "function")
    assert negs["network_endpoint_type"] == "SERVERLESS"


def _declared_url_map() -> dict[str, set[str]]:
    from functions.routes import blueprints
    from functions.routing import url_map

    declared = url_map(blueprint.policy for blueprint in blueprints())
    return {target: set(paths) for target, paths in declared.items()}


def test_url_map_is_what_the_blueprints_declare(tf: dict[str, dict[str, Any]]) -> None:
    """Every path of the URL map, and only those, is declared by a blueprint's route policy
    (functions/routing.py) for the same target."""
    routes = {target: set(paths) for target, paths in tf["locals"]["routes"].items()}
    assert routes == _declared_url_map()


def test_each_target_serves_what_the_url_map_sends_it(tf: dict[str, dict[str, Any]]) -> None:
    """functions/main.py answers 404 for a path of another target: each path the URL map sends
    to a target, and everything below it, is that target's."""
    from functions import main

    for target, paths in tf["locals"]["routes"].items():
        for path in paths:
            for sample in (path.replace("*", "x"), path.replace("*", "x/y.png")):
                assert main.target_for(sample) == target, f"{sample} is routed to {target}"


def _url_map_target(routes: dict[str, list[str]], path: str) -> str | None:
    """The target the URL map sends `path` to: a rule is an exact path, or "/x/*" for everything
    below /x/; the longest rule wins; None means the site bucket."""
    matching = [
        (len(rule), target)
        for target, rules in routes.items()
        for rule in rules
        if path == rule or (rule.endswith("/*") and path.startswith(rule[:-1]))
    ]
    return max(matching)[1] if matching else None


@pytest.mark.parametrize(
    "path",
    [
        "/e/" + "0" * 32,
        "/e/" + "0" * 32 + "/results",
        "/e/@a/results",
        "/_/sources",
        "/_/sourcesx",
        "/_/builds",
        "/ai/r/" + "0" * 32 + "/diff/r2.png",
        "/_/nothing",
        "/_/name/x",
        "/_/named/x",
        "/_/source/1",
        "/admin",
        "/admin/sources",
        "/named",
        "/s/1",
        "/i/x.pdf",
        "/ai/r/x.pdf",
    ],
)
def test_the_url_map_and_the_targets_agree_on_a_path(
    tf: dict[str, dict[str, Any]], path: str
) -> None:
    """Where the URL map sends a path is the target that serves it (GET /e/<hash>/results, the
    editor's results area, goes where /e/<hash> goes)."""
    from functions import main

    target = _url_map_target(tf["locals"]["routes"], path)
    assert target is not None and main.target_for(path) == target


@pytest.mark.parametrize("path", ["/", "/static/style.css", "/metrics", "/favicon.ico"])
def test_paths_left_to_the_site_bucket(tf: dict[str, dict[str, Any]], path: str) -> None:
    """/ and /static/ come from the bucket; so does /metrics, which only the pages target serves
    to callers inside the project."""
    assert _url_map_target(tf["locals"]["routes"], path) is None


def test_runner_instances(tf: dict[str, dict[str, Any]]) -> None:
    template = _resource(tf, "google_compute_instance_template", "runner")
    assert _block(template, "disk")["source_image"] == "debian-cloud/debian-12"
    assert "access_config" not in _block(template, "network_interface"), "no external IP"
    account = _block(template, "service_account")
    assert account["email"] == "${google_service_account.runner.email}"
    shielded = _block(template, "shielded_instance_config")
    assert shielded == {
        "enable_secure_boot": True,
        "enable_vtpm": True,
        "enable_integrity_monitoring": True,
    }
    metadata = tf["locals"]["runner_metadata"]
    assert "runner-vm/startup.sh" in metadata and "systemd/fiddle-runner.service" in metadata
    group = _resource(tf, "google_compute_region_instance_group_manager", "runners")
    healing = _block(group, "auto_healing_policies")
    assert healing["health_check"] == "${google_compute_health_check.runner_autoheal.id}"
    for name in ("runner_autoheal", "runner_lb"):
        check = _resource(tf, "google_compute_health_check", name)
        assert _block(check, "http_health_check")["request_path"] == "/healthz"
    backend = _resource(tf, "google_compute_region_backend_service", "runners")
    assert backend["load_balancing_scheme"] == "INTERNAL"
    rule = _resource(tf, "google_compute_forwarding_rule", "runners")
    assert rule["load_balancing_scheme"] == "INTERNAL"


def test_no_secrets_in_terraform() -> None:
    text = "\n".join(path.read_text() for path in TERRAFORM.rglob("*.tf"))
    assert "google_secret_manager_secret_version" not in text, "secret values stay out of state"
    assert not re.search(r"PRIVATE KEY|secret_data|password\s*=", text)


# ---------------------------------------------------------------------------------------------
# The runner VM: start-up script and systemd unit


def test_startup_script_syntax() -> None:
    subprocess.run(["bash", "-n", str(STARTUP)], check=True, timeout=30)
    text = STARTUP.read_text()
    assert "set -euo pipefail" in text
    assert "eval " not in text and "bash -c" not in text and "sh -c" not in text


def test_startup_script_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    done = subprocess.run([shellcheck, str(STARTUP)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout


class _Metadata(BaseHTTPRequestHandler):
    attributes: ClassVar[dict[str, str]] = {}

    def do_GET(self) -> None:
        prefix = "/computeMetadata/v1/instance/attributes/"
        if self.headers.get("Metadata-Flavor") != "Google":
            self.send_response(403)
            body = b""
        elif self.path.startswith(prefix) and self.path[len(prefix) :] in self.attributes:
            self.send_response(200)
            body = self.attributes[self.path[len(prefix) :]].encode()
        else:
            self.send_response(404)
            body = b"not found"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def metadata_server() -> Iterator[tuple[str, dict[str, str]]]:
    attributes: dict[str, str] = {}
    handler = type("Handler", (_Metadata,), {"attributes": attributes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/computeMetadata/v1/instance/attributes"
    try:
        yield url, attributes
    finally:
        server.shutdown()
        server.server_close()


def _startup(url: str, script: str) -> subprocess.CompletedProcess[str]:
    """Runs SCRIPT in bash after sourcing the start-up script, which then only defines functions."""
    env = {**os.environ, "FIDDLE_METADATA_URL": url}
    # The path goes in $1, not $0: the script runs main (installing packages!) when $0 is itself.
    return subprocess.run(
        ["bash", "-c", f'source "$1"\n{script}', "bash", str(STARTUP)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_startup_script_reads_metadata(metadata_server: tuple[str, dict[str, str]]) -> None:
    url, attributes = metadata_server
    attributes["fiddle-runner-port"] = "9000"
    done = _startup(url, "attribute fiddle-runner-port; echo; attribute fiddle-runner-hosts 2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["9000", "2"]
    done = _startup(url, "attribute fiddle-runner-audience")
    assert done.returncode != 0 and "fiddle-runner-audience is not set" in done.stderr


def test_startup_script_rejects_hostile_metadata(
    metadata_server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, attributes = metadata_server
    canary = tmp_path / "canary"
    hostile = {
        "fiddle-runner-port": f"8081$(touch {canary})",
        "fiddle-runner-hosts": "2\nFIDDLE_RUNNER_SECRET=x",
        "fiddle-runner-audience": f"http://x/;touch {canary}",
        "fiddle-git-url": f"--upload-pack=touch {canary}",
        "fiddle-git-ref": "--output=/etc/passwd",
        "fiddle-wheel-name": "../../etc/cron.d/x.whl",
    }
    patterns = {
        "fiddle-runner-port": "'^[1-9][0-9]{0,4}$'",
        "fiddle-runner-hosts": "'^[1-9][0-9]?$'",
        "fiddle-runner-audience": "'^[A-Za-z0-9._~:/?#@%+=&-]{1,512}$'",
        "fiddle-git-url": "'^https://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._~/%+-]*$'",
        "fiddle-git-ref": "'^[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}$'",
        "fiddle-wheel-name": "'^fiddle_service-[A-Za-z0-9_.+]+-py3-none-any\\.whl$'",
    }
    text = STARTUP.read_text()
    for name, value in hostile.items():
        attributes[name] = value
        pattern = patterns[name]
        assert f'check {name} "$' in text and pattern in text, f"{name} is not checked as tested"
        done = _startup(url, f'value=$(attribute {name})\ncheck {name} "$value" {pattern}\necho ok')
        assert done.returncode != 0 and "ok" not in done.stdout, name
        assert "unexpected value" in done.stderr, name
    assert not canary.exists()


def test_startup_script_needs_the_metadata_header(
    metadata_server: tuple[str, dict[str, str]],
) -> None:
    url, attributes = metadata_server
    attributes["fiddle-runner-port"] = "9000"
    assert "Metadata-Flavor: Google" in STARTUP.read_text()
    done = _startup(url, "attribute fiddle-runner-port")
    assert done.returncode == 0 and done.stdout == "9000"


def _unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault(f"{section}.{key}", []).append(value)
    return settings


def test_systemd_unit_settings() -> None:
    settings = _unit_settings()
    assert settings["Service.User"] == ["root"]
    assert settings["Service.Restart"] == ["always"]
    assert settings["Service.EnvironmentFile"] == ["/etc/fiddle/runner.env"]
    assert settings["Service.LimitNOFILE"]
    assert settings["Service.Delegate"] == ["yes"]
    assert settings["Service.OOMPolicy"] == ["continue"]
    command = settings["Service.ExecStart"][0].split()
    assert command[:2] == ["/opt/fiddle/venv/bin/fiddle", "runner"]
    assert command[command.index("--sandbox") + 1] == "nspawn"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    # Settings that would break systemd-nspawn or the sandbox inside this unit.
    breaking = {
        "NoNewPrivileges",
        "RestrictNamespaces",
        "PrivateUsers",
        "ProtectHostname",
        "ProtectControlGroups",
        "PrivateDevices",
        "SystemCallFilter",
        "PrivateNetwork",
        "CapabilityBoundingSet",
        "ProtectKernelTunables",
        "DevicePolicy",
        "UMask",
    }
    assert not breaking & {key.split(".", 1)[1] for key in settings}


def test_the_runner_vm_installs_the_default_builds_where_its_runner_looks() -> None:
    """The start-up script adds the default builds (smoke-rendered under nspawn, as the runner
    runs) before it (re)starts the runner, in the directory the unit gives the runner."""
    script = STARTUP.read_text()
    where = re.search(r"^readonly BUILDS_DIR=(\S+)$", script, re.MULTILINE)
    assert where is not None
    assert _unit_settings()["Service.Environment"].count(f"FIDDLE_BUILDS_DIR={where.group(1)}") == 1
    assert (
        '"$VENV/bin/fiddle" builds add --defaults --builds-dir "$BUILDS_DIR" --sandbox nspawn'
        in script
    )
    main = script[script.index("main() {") :]
    assert main.index("install_builds") < main.index("systemctl restart")


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    units = next(
        (
            p
            for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
            if (p / "multi-user.target").exists()
        ),
        None,
    )
    if analyze is None or units is None:
        pytest.skip("systemd-analyze or systemd's own units are not installed")
    # An offline root: systemd's units, ours, and a stand-in for the venv's `fiddle`.
    shutil.copytree(units, tmp_path / "usr/lib/systemd/system", symlinks=True)
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, tmp_path / "etc/systemd/system" / UNIT.name)
    fiddle = tmp_path / "opt/fiddle/venv/bin/fiddle"
    fiddle.parent.mkdir(parents=True)
    fiddle.write_text("#!/bin/sh\n")
    fiddle.chmod(0o755)
    done = subprocess.run(
        [analyze, "verify", f"--root={tmp_path}", UNIT.name],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert UNIT.name not in output, output  # warnings (unknown keys, bad values) name the unit


# ---------------------------------------------------------------------------------------------
# scripts/deploy


def _deploy_module() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("fiddle_deploy", str(DEPLOY))
    spec = importlib.util.spec_from_loader("fiddle_deploy", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _files_under(path: Path) -> set[tuple[str, int]]:
    if not path.exists():
        return set()
    return {(str(p), p.stat().st_mtime_ns) for p in path.rglob("*")}


def test_deploy_dry_run() -> None:
    sentinels = {
        "FIDDLE_SECRET_KEY": "sentinel-secret-key-5c1e",
        "FIDDLE_RUNNER_SECRET": "sentinel-runner-secret-9a7b",
    }
    before = _files_under(ROOT / "build" / "deploy")
    done = subprocess.run(
        [sys.executable, str(DEPLOY), "--dry-run", "--project", "p", "--region", "r"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **sentinels},
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    lines = out.splitlines()
    assert all(line.startswith(("+ ", "# ")) for line in lines), out
    commands = [line[2:] for line in lines if line.startswith("+ ")]

    def index(pattern: str) -> int:
        found = [i for i, command in enumerate(commands) if re.search(pattern, command)]
        assert found, f"no command matching {pattern!r}"
        return found[0]

    order = [
        index(r"^npm run build"),
        index(r" -m functions.cli build-site build/deploy/site "),
        index(r" -m pip wheel "),
        index(r"^gcloud storage cp .*\.zip"),
        index(r"^terraform .* init "),
        index(r"^terraform .* plan .*-var=project=p"),
        index(r"^terraform .* apply "),
        index(r"^gcloud storage rsync build/deploy/site '?gs://"),
    ]
    assert order == sorted(order), commands
    assert "-var=region=r" in commands[index(r"^terraform .* plan ")]
    for value in sentinels.values():
        assert value not in out + done.stderr
    assert not re.search(r"PRIVATE KEY|token_urlsafe|--data-file=(?!-)", out)
    assert _files_under(ROOT / "build" / "deploy") == before, "a dry run wrote files"


def test_deploy_rejects_option_like_values() -> None:
    done = subprocess.run(
        [sys.executable, str(DEPLOY), "--dry-run", "--project", "--foo", "--region", "r"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    done = subprocess.run(
        [sys.executable, str(DEPLOY), "--dry-run", "--project=p;rm", "--region", "r"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "not a valid project id" in done.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_functions_zip_serves_the_pages_target(tmp_path: Path) -> None:
    """The zip scripts/deploy uploads works as a Cloud Functions source: root main.py, targets."""
    if importlib.util.find_spec("functions_framework") is None:
        pytest.skip("functions-framework is not installed")
    deploy = _deploy_module()
    archive, _ = deploy.functions_zip()
    assert archive == deploy.functions_zip()[0], "the zip is not reproducible"
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        names = zipped.namelist()
        assert {"main.py", "requirements.txt", "functions/main.py"} <= set(names)
        assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
        assert "functions-framework" in zipped.read("requirements.txt").decode()
        zipped.extractall(tmp_path / "source")
    port = _free_port()
    env = {
        **os.environ,
        "FIDDLE_RUNNERS": "http://127.0.0.1:9",
        "FIDDLE_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": "",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--source",
            "main.py",
            "--target",
            "pages",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=tmp_path / "source",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    assert response.status == 200
                    break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None, "functions-framework exited"
                assert time.monotonic() < deadline, "functions-framework did not start"
                time.sleep(0.2)
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_/run", timeout=5)
        assert error.value.code == 404, "pages must not serve another target's path"
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stderr is not None
        process.stderr.close()
