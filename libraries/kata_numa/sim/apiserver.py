"""The simulated node's Kubernetes API: the subset the suite, KubeLibrary and the kubernetes client use.

A standard-library HTTP server on 127.0.0.1 with a random port and a bearer
token. Unknown paths answer 404 with a Kubernetes Status body; a wrong token
answers 401.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .node import ApiError, SimulatedNode

_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(pattern), handler)
    for method, pattern, handler in (
        ("GET", r"^/version/?$", "version"),
        ("GET", r"^/api/?$", "api_versions"),
        ("GET", r"^/apis/?$", "api_groups"),
        ("GET", r"^/api/v1/?$", "api_resources"),
        ("GET", r"^/api/v1/pods$", "list_all_pods"),
        ("GET", r"^/api/v1/namespaces$", "list_namespaces"),
        ("POST", r"^/api/v1/namespaces$", "create_namespace"),
        ("GET", r"^/api/v1/namespaces/(?P<ns>[^/]+)$", "get_namespace"),
        ("DELETE", r"^/api/v1/namespaces/(?P<ns>[^/]+)$", "delete_namespace"),
        ("GET", r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods$", "list_pods"),
        ("POST", r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods$", "create_pod"),
        ("GET", r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)$", "get_pod"),
        ("GET", r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/status$", "get_pod"),
        ("DELETE", r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)$", "delete_pod"),
        ("GET", r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/log$", "pod_log"),
        ("GET", r"^/api/v1/namespaces/(?P<ns>[^/]+)/events$", "list_events"),
        ("GET", r"^/api/v1/nodes$", "list_nodes"),
        ("GET", r"^/api/v1/nodes/(?P<name>[^/]+)$", "get_node"),
        ("GET", r"^/api/v1/nodes/(?P<name>[^/]+)/proxy/configz$", "configz"),
    )
]

_RESOURCES = [
    ("pods", "Pod", True, ["create", "delete", "get", "list"]),
    ("pods/status", "Pod", True, ["get"]),
    ("pods/log", "Pod", True, ["get"]),
    ("nodes", "Node", False, ["get", "list"]),
    ("nodes/proxy", "NodeProxyOptions", False, ["get"]),
    ("namespaces", "Namespace", False, ["create", "delete", "get", "list"]),
    ("events", "Event", True, ["get", "list"]),
]


def status_body(code: int, reason: str, message: str) -> dict:
    """A Kubernetes Status object."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class ApiServer:
    """Serves one SimulatedNode on 127.0.0.1 until ``stop``."""

    def __init__(self, node: SimulatedNode, token: str, port: int = 0) -> None:
        self.node = node
        self.token = token
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                server.handle(self, "GET")

            def do_POST(self) -> None:
                server.handle(self, "POST")

            def do_DELETE(self) -> None:
                server.handle(self, "DELETE")

            def do_PUT(self) -> None:
                server.handle(self, "PUT")

            def do_PATCH(self) -> None:
                server.handle(self, "PATCH")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sim-apiserver", daemon=True
        )

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ApiServer:
        """Starts serving in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and closes the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- dispatch --------------------------------------------------------------

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        """Authenticates, routes and answers one request; never lets an error kill the server."""
        self.requests += 1
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            self._send(request, 401, status_body(401, "Unauthorized", "Unauthorized"))
            return
        parts = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        for route_method, pattern, handler in _ROUTES:
            match = pattern.match(parts.path)
            if match and route_method == method:
                try:
                    code, payload = getattr(self, handler)(query=query, body=body, **match.groupdict())
                except ApiError as error:
                    code, payload = error.code, status_body(error.code, error.reason, error.message)
                except Exception as error:  # noqa: BLE001 - a bad request must never stop the server
                    code, payload = 500, status_body(500, "InternalError", f"{type(error).__name__}: {error}")
                self._send(request, code, payload)
                return
        self._send(
            request,
            404,
            status_body(404, "NotFound", f"the server could not find the requested resource ({method} {parts.path})"),
        )

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, code: int, payload: object) -> None:
        if isinstance(payload, str):
            data, kind = payload.encode(), "text/plain; charset=utf-8"
        else:
            data, kind = json.dumps(payload).encode(), "application/json"
        request.send_response(code)
        request.send_header("Content-Type", kind)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    # -- handlers ----------------------------------------------------------------

    def version(self, **_: object) -> tuple[int, dict]:
        return 200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0-kata-numa-sim", "platform": "linux/amd64"}

    def api_versions(self, **_: object) -> tuple[int, dict]:
        address = self.url.removeprefix("http://")
        return 200, {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
        }

    def api_groups(self, **_: object) -> tuple[int, dict]:
        return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}

    def api_resources(self, **_: object) -> tuple[int, dict]:
        resources = [
            {
                "name": name,
                "singularName": "" if "/" in name else name.rstrip("s"),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": verbs,
            }
            for name, kind, namespaced, verbs in _RESOURCES
        ]
        return 200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": resources}

    def _list(self, kind: str, items: list[dict]) -> dict:
        return {
            "apiVersion": "v1",
            "kind": f"{kind}List",
            "metadata": {"resourceVersion": self.node.resource_version()},
            "items": items,
        }

    def list_all_pods(self, **_: object) -> tuple[int, dict]:
        with self.node.lock:
            return 200, self._list("Pod", [self.node.pod_object(p) for p in self.node.list_pods(None)])

    def list_pods(self, ns: str, **_: object) -> tuple[int, dict]:
        with self.node.lock:
            return 200, self._list("Pod", [self.node.pod_object(p) for p in self.node.list_pods(ns)])

    def create_pod(self, ns: str, body: bytes, **_: object) -> tuple[int, dict]:
        try:
            manifest = json.loads(body or b"{}")
        except json.JSONDecodeError as error:
            raise ApiError(400, "BadRequest", f"the body is not JSON: {error}") from None
        return 201, self.node.create_pod(ns, manifest)

    def get_pod(self, ns: str, name: str, **_: object) -> tuple[int, dict]:
        with self.node.lock:
            return 200, self.node.pod_object(self.node.get_pod(ns, name))

    def delete_pod(self, ns: str, name: str, **_: object) -> tuple[int, dict]:
        return 200, self.node.delete_pod(ns, name)

    def pod_log(self, ns: str, name: str, **_: object) -> tuple[int, str]:
        return 200, self.node.pod_log(ns, name)

    def list_events(self, ns: str, query: dict, **_: object) -> tuple[int, dict]:
        involved = None
        for selector in (query.get("fieldSelector") or "").split(","):
            key, _, value = selector.partition("=")
            if key == "involvedObject.name":
                involved = value
        with self.node.lock:
            return 200, self._list("Event", self.node.event_objects(ns, involved))

    def list_nodes(self, **_: object) -> tuple[int, dict]:
        return 200, self._list("Node", [self.node.node_object()])

    def get_node(self, name: str, **_: object) -> tuple[int, dict]:
        self._check_node(name)
        return 200, self.node.node_object()

    def configz(self, name: str, **_: object) -> tuple[int, dict]:
        self._check_node(name)
        return 200, self.node.configz()

    def _check_node(self, name: str) -> None:
        if name != self.node.node_name:
            raise ApiError(404, "NotFound", f'nodes "{name}" not found')

    def _namespace(self, name: str) -> dict:
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "status": {"phase": "Active"}}

    def list_namespaces(self, **_: object) -> tuple[int, dict]:
        return 200, self._list("Namespace", [self._namespace(n) for n in sorted(self.node.namespaces)])

    def get_namespace(self, ns: str, **_: object) -> tuple[int, dict]:
        if ns not in self.node.namespaces:
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found')
        return 200, self._namespace(ns)

    def create_namespace(self, body: bytes, **_: object) -> tuple[int, dict]:
        try:
            name = json.loads(body or b"{}")["metadata"]["name"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ApiError(422, "Invalid", "Namespace is invalid: metadata.name: Required value") from None
        if name in self.node.namespaces:
            raise ApiError(409, "AlreadyExists", f'namespaces "{name}" already exists')
        self.node.namespaces.add(name)
        return 201, self._namespace(name)

    def delete_namespace(self, ns: str, **_: object) -> tuple[int, dict]:
        with self.node.lock:
            for pod in [p for p in self.node.pods.values() if p.namespace == ns]:
                self.node.delete_pod(ns, pod.name)
            self.node.namespaces.discard(ns)
        return 200, self._namespace(ns)
