"""The access-log lines recorded in the seed documents, verbatim (the specification's fixtures)."""

from __future__ import annotations

# Seed 001 (npolshakova/egress-gateway-examples), gateway lines in the order the seed shows them.
S001_HTTP_VIA_GATEWAY = (
    '[2024-06-21T19:24:00.453Z] "GET /headers HTTP/2" 200 - via_upstream - "-" 0 1450 57 57 '
    '"10.244.0.7" "curl/7.83.1-DEV" "51ed62d9-1da8-4250-9923-df406ca9fd57" "httpbin.org" '
    '"3.213.1.197:80" outbound|80||httpbin.org 10.244.0.6:41144 10.244.0.6:8080 '
    "10.244.0.7:55490 - -"
)
S001_TLS_ORIGINATION = (
    '[2024-06-21T19:32:56.681Z] "GET /headers HTTP/2" 200 - via_upstream - "-" 0 1451 111 111 '
    '"10.244.0.7" "curl/7.83.1-DEV" "1f00a5df-5e92-4753-8c52-248de5c3d73a" "httpbin.org" '
    '"3.213.1.197:443" outbound|443||httpbin.org 10.244.0.6:57676 10.244.0.6:8080 '
    "10.244.0.7:34850 - -"
)
S001_ISTIO_MUTUAL = (
    '[2024-06-21T19:50:33.667Z] "GET /headers HTTP/1.1" 200 - via_upstream - "-" 0 2997 109 108 '
    '"10.244.0.7" "curl/7.83.1-DEV" "0db0a05e-6c1e-4a8a-b932-0f582340d36e" "httpbin.org" '
    '"3.211.196.247:443" outbound|443||httpbin.org 10.244.0.6:42264 10.244.0.6:8443 '
    "10.244.0.7:54554 httpbin.org -"
)
S001_PASSTHROUGH = (
    '[2024-06-21T21:22:27.560Z] "- - -" 0 - - - "-" 940 5946 156 - "-" "-" "-" "-" '
    '"18.211.234.122:443" outbound|443||httpbin.org 10.244.0.6:50356 10.244.0.6:8443 '
    "10.244.0.7:51628 httpbin.org -"
)
S001_ISTIO_MUTUAL_PLAIN = (
    '[2024-06-24T21:29:03.272Z] "GET /headers HTTP/1.1" 200 - via_upstream - "-" 0 3157 67 67 '
    '"10.244.0.7" "curl/7.83.1-DEV" "a925dde7-a7ac-4e1b-b33d-0b5c4403b791" "httpbin.org" '
    '"44.195.190.188:80" outbound|80||httpbin.org 10.244.0.6:56744 10.244.0.6:8443 '
    "10.244.0.7:57726 httpbin.org -"
)
# Seed 002 (btjimerson/istio-demo-library): gateway line, HTTP via the gateway.
S002_GOOGLE = (
    '[2021-09-10T16:47:30.115Z] "GET / HTTP/2" 200 - via_upstream - "-" 0 14892 141 123 '
    '"192.168.77.145" "curl/7.64.0" "a829b98e-001a-41af-9e0e-1bea4f163111" "www.google.com" '
    '"142.250.191.196:80" outbound|80||www.google.com 192.168.29.202:39050 '
    "192.168.29.202:8080 192.168.77.145:52826 - -"
)
# Seed 003 (ankitcharolia/istio-egress-mtls): client sidecar lines (wildcard subset cluster) ...
S003_SIDECAR_EN = (
    '[2024-05-07T13:21:52.793Z] "- - -" 0 - - - "-" 813 111152 61 - "-" "-" "-" "-" '
    '"172.17.5.170:8443" outbound|443|wildcard|egressgateway.istio-egress.svc.cluster.local '
    "172.17.34.35:55102 208.80.153.224:443 172.17.34.35:37020 en.wikipedia.org -"
)
S003_SIDECAR_DE = (
    '[2024-05-07T13:21:52.994Z] "- - -" 0 - - - "-" 821 92848 55 - "-" "-" "-" "-" '
    '"172.17.5.170:8443" outbound|443|wildcard|egressgateway.istio-egress.svc.cluster.local '
    "172.17.34.35:55108 208.80.153.224:443 172.17.34.35:37030 de.wikipedia.org -"
)
# ... and gateway lines from the SNI forward proxy's internal listener.
S003_GATEWAY_DE = (
    '[2024-04-30T16:19:15.866Z] "- - -" 0 - - - "-" 806 5378 82 - "-" "-" "-" "-" '
    '"185.15.59.224:443" dynamic_forward_proxy_cluster 10.1.1.172:58604 envoy://sni_listener/ '
    "envoy://internal_client_address/ de.wikipedia.org -"
)
S003_GATEWAY_EN = (
    '[2024-04-30T16:17:57.241Z] "- - -" 0 - - - "-" 806 5367 58 - "-" "-" "-" "-" '
    '"185.15.59.224:443" dynamic_forward_proxy_cluster 10.1.1.172:58156 envoy://sni_listener/ '
    "envoy://internal_client_address/ en.wikipedia.org -"
)
# Seed 004 (jewertow/istio-playground): the external CONNECT proxy's own format.
S004_CONNECT_GOOGLE = (
    '[2022-01-28T13:23:03.527Z] 192.168.56.20:47191 "CONNECT 216.58.209.4:443 - HTTP/1.1" '
    "- 200 - DC"
)
S004_CONNECT_WIKIPEDIA = (
    '[2022-01-28T13:23:30.407Z] 192.168.56.20:59205 "CONNECT 91.198.174.192:443 - HTTP/1.1" '
    "- 200 - DC"
)
