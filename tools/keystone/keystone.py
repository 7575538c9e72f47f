#!/usr/bin/env python3
"""Run a real Keystone on loopback for Neutrino's tests and its Tempest runner.

    keystone.py --venv DIR --state DIR --port PORT [--expiration SECONDS] [--neutron-url URL]

Writes keystone.conf into the state directory (SQLite database, fernet tokens), runs
`keystone-manage db_sync / fernet_setup / credential_setup / bootstrap`, serves Keystone with
gunicorn, and registers what a Neutron deployment has: project `service`, user `neutron`
(password `neutron`, roles `admin` and `service` on `service`), roles `member`, `reader`,
`manager` and `service`, and, with --neutron-url, service `network` with its endpoints.
The admin user is `admin` / `admin` in project `admin`. When Keystone answers, it prints one
line `KEYSTONE_READY http://127.0.0.1:PORT` and keeps running until it is sent SIGTERM; it
then stops gunicorn. Nothing here needs anything but the Python standard library and the
Keystone virtualenv.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

CONF = """[DEFAULT]
log_file = {state}/keystone.log
[database]
connection = sqlite:///{state}/keystone.db?timeout=60
[token]
provider = fernet
expiration = {expiration}
[fernet_tokens]
key_repository = {state}/fernet-keys
[fernet_receipts]
key_repository = {state}/fernet-keys
[credential]
key_repository = {state}/credential-keys
[identity]
# Minimum bcrypt cost: every password token costs one hash check, and tests and Tempest
# create many users and tokens. Not for production.
password_hash_rounds = 4
[cache]
enabled = false
[oslo_policy]
enforce_scope = false
enforce_new_defaults = false
"""

# keystone parses sys.argv with oslo.config when the application is built: gunicorn's own
# arguments would make it exit, so the WSGI module hides them.
WSGI = """import sys
sys.argv = [sys.argv[0]]
from keystone.wsgi.api import application  # noqa: E402,F401
"""


def call(url, method="GET", body=None, token=None):
    req = urllib.request.Request(url, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(req, data=data, timeout=30) as r:
        text = r.read()
        return r.headers, (json.loads(text) if text else None)


def admin_token(base):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "admin"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    headers, _ = call(base + "/v3/auth/tokens", "POST", body)
    return headers["X-Subject-Token"]


def find_or_create(base, token, collection, key, body):
    _, found = call(f"{base}/v3/{collection}?name={body['name']}", token=token)
    if found[collection]:
        return found[collection][0]["id"]
    _, made = call(f"{base}/v3/{collection}", "POST", {key: body}, token)
    return made[key]["id"]


def register(base, neutron_url):
    token = admin_token(base)
    project = find_or_create(base, token, "projects", "project",
                             {"name": "service", "domain_id": "default"})
    roles = {r: find_or_create(base, token, "roles", "role", {"name": r})
             for r in ("admin", "member", "reader", "manager", "service")}
    user = find_or_create(base, token, "users", "user",
                          {"name": "neutron", "domain_id": "default", "password": "neutron"})
    for r in ("admin", "service"):
        call(f"{base}/v3/projects/{project}/users/{user}/roles/{roles[r]}", "PUT", None, token)
    if neutron_url:
        service = find_or_create(base, token, "services", "service",
                                 {"name": "neutron", "type": "network"})
        _, eps = call(f"{base}/v3/endpoints?service_id={service}", token=token)
        if not eps["endpoints"]:
            for iface in ("public", "internal", "admin"):
                call(f"{base}/v3/endpoints", "POST", {"endpoint": {
                    "service_id": service, "interface": iface, "url": neutron_url,
                    "region_id": "RegionOne"}}, token)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--venv", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--expiration", type=int, default=86400)
    p.add_argument("--neutron-url", default="")
    p.add_argument("--parent-pid", type=int, default=0,
                   help="stop when this process is gone (tests that cannot clean up on exit)")
    a = p.parse_args()
    state = os.path.abspath(a.state)
    os.makedirs(state, exist_ok=True)
    conf = os.path.join(state, "keystone.conf")
    with open(conf, "w") as f:
        f.write(CONF.format(state=state, expiration=a.expiration))
    with open(os.path.join(state, "keystone_wsgi.py"), "w") as f:
        f.write(WSGI)
    base = f"http://127.0.0.1:{a.port}"
    manage = [os.path.join(a.venv, "bin", "keystone-manage"), "--config-file", conf]
    log = open(os.path.join(state, "setup.log"), "a")
    if not os.path.exists(os.path.join(state, "bootstrapped")):
        for args in (["db_sync"],
                     ["fernet_setup", "--keystone-user", "root", "--keystone-group", "root"],
                     ["credential_setup", "--keystone-user", "root", "--keystone-group", "root"],
                     ["bootstrap", "--bootstrap-password", "admin",
                      "--bootstrap-admin-url", base + "/", "--bootstrap-internal-url", base + "/",
                      "--bootstrap-public-url", base + "/", "--bootstrap-region-id", "RegionOne"]):
            subprocess.run(manage + args, check=True, stdout=log, stderr=log)
    env = dict(os.environ, OS_KEYSTONE_CONFIG_FILES=conf, PYTHONPATH=state)
    server = subprocess.Popen(
        [os.path.join(a.venv, "bin", "gunicorn"), "--bind", f"127.0.0.1:{a.port}",
         # One process and one thread: every password authentication reads the user, then
         # writes its last_active_at; on SQLite a read transaction that then writes while
         # another one writes fails at once with "database is locked" (the busy timeout
         # does not cover that upgrade), which Tempest saw as a 500 from POST
         # /v3/auth/tokens. One request at a time is plenty for tests (bcrypt cost 4).
         "--workers", "1", "--threads", "1", "--worker-class", "gthread",
         "--chdir", state, "keystone_wsgi:application"],
        env=env, stdout=log, stderr=log, start_new_session=True)

    def stop(*_):
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        except Exception:
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except Exception:
                pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = time.time() + 120
    while True:
        if server.poll() is not None:
            print(f"gunicorn exited with {server.returncode}; see {state}/setup.log",
                  file=sys.stderr)
            sys.exit(1)
        try:
            call(base + "/v3")
            break
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.time() > deadline:
                print("Keystone did not answer within 120 s", file=sys.stderr)
                stop()
            time.sleep(0.5)
    register(base, a.neutron_url)
    open(os.path.join(state, "bootstrapped"), "w").close()
    print(f"KEYSTONE_READY {base}", flush=True)
    while server.poll() is None:
        if a.parent_pid and not alive(a.parent_pid):
            stop()
        time.sleep(1)
    sys.exit(1)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
