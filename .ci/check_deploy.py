"""The config and Dockerfile halves of .ci/check-deploy (see there)."""
import os
import pathlib
import secrets
import base64
import subprocess
import sys
import tempfile

import yaml
from dockerfile_parse import DockerfileParser

BIN = sys.argv[1]
ROOT = pathlib.Path(__file__).resolve().parent.parent
SECRETS_MOUNT = "/run/secrets/pulse-vsphere"
failures = []


def fail(msg):
    failures.append(msg)
    print(f"check-deploy: {msg}", file=sys.stderr)


def run(args, env=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=env, timeout=60)


def made_up_secrets(dir):
    """The Secret's keys as files, with values of the right shape."""
    values = {
        "store-url": "postgres://pulse_vsphere:not-a-real-password@127.0.0.1:5432/pulse_vsphere",
        "secret-key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "router-token": secrets.token_hex(32),
        "assistant-token": secrets.token_hex(32),
        "admin-token": secrets.token_hex(32),
    }
    declared = yaml.safe_load((ROOT / "deploy/kubernetes/secret-example.yaml").read_text())
    if set(declared["stringData"]) != set(values):
        fail(f"secret-example.yaml keys {sorted(declared['stringData'])} != {sorted(values)}")
    for k, v in values.items():
        (dir / k).write_text(v + "\n")


def check_configmaps():
    for path in sorted((ROOT / "deploy/kubernetes").rglob("configmap.yaml")):
        doc = yaml.safe_load(path.read_text())
        config = doc["data"]["config.toml"]
        with tempfile.TemporaryDirectory() as scratch:
            scratch = pathlib.Path(scratch)
            (scratch / "secrets").mkdir()
            made_up_secrets(scratch / "secrets")
            text = config.replace(SECRETS_MOUNT, str(scratch / "secrets")).replace(
                '"/data"', f'"{scratch / "data"}"'
            )
            (scratch / "config.toml").write_text(text)
            env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_VSPHERE_")}
            env["PULSE_VSPHERE_DATA_DIR"] = str(scratch / "data")
            r = run(["config", "check", str(scratch / "config.toml")], env)
            rel = path.relative_to(ROOT)
            if r.returncode != 0:
                fail(f"{rel}: config check exit {r.returncode}: {r.stderr.strip()}")
            elif "not-a-real-password" in r.stdout:
                fail(f"{rel}: config check printed the store password")
            else:
                print(f"check-deploy: {rel}: config check passed")


def check_dockerfile():
    df = DockerfileParser(path=str(ROOT / "Dockerfile"))
    stages = [i for i in df.structure if i["instruction"] == "FROM"]
    if len(stages) < 2:
        fail("Dockerfile: expected a build stage and a runtime stage")
    last_from = max(i["startline"] for i in stages)
    runtime = [i for i in df.structure if i["startline"] > last_from]
    for i in df.structure:
        if i["instruction"] == "COPY" and "--from=" not in i["value"]:
            for src in i["value"].split()[:-1]:
                if not (ROOT / src).exists():
                    fail(f"Dockerfile line {i['startline'] + 1}: COPY source {src} does not exist")
    users = [i["value"] for i in runtime if i["instruction"] == "USER"]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        fail("Dockerfile: the runtime stage must run as a non-root USER")
    if "--locked" not in df.content:
        fail("Dockerfile: the build must use the lockfile (--locked)")
    hc = [i["value"] for i in runtime if i["instruction"] == "HEALTHCHECK"]
    if not hc or "healthcheck" not in hc[-1]:
        fail("Dockerfile: the runtime stage needs a HEALTHCHECK through `pulse-vsphere healthcheck`")
    else:
        # The subcommand exists and fails (exit 1) when nothing listens.
        r = run(["healthcheck", "--url", "http://127.0.0.1:9/healthz", "--timeout-seconds", "2"])
        if r.returncode != 1:
            fail(f"`pulse-vsphere healthcheck` against a closed port: exit {r.returncode}, expected 1")
    cmd = [i["value"] for i in runtime if i["instruction"] == "CMD"]
    if not cmd or "/etc/pulse-vsphere/config.toml" not in cmd[-1]:
        fail("Dockerfile: CMD must serve /etc/pulse-vsphere/config.toml, where the ConfigMap is mounted")
    if run(["serve", "--help"]).returncode != 0:
        fail("`pulse-vsphere serve --help` failed")


check_configmaps()
check_dockerfile()
sys.exit(1 if failures else 0)
