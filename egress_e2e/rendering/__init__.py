"""From a scenario to the manifests it applies: where its objects live (``layout``, the seed's
own names or an isolated run), the Jinja templates under ``manifests/`` rendered into a plan
(``render``), and offline validation as strict as the API server (``lint``: the CRDs'
schemas and CEL rules in ``schemas``, ``structural``, ``cel_rules``, ``kube_cel``; core kinds'
rules in ``core_checks`` and ``names``).

May import: ``core``, ``infra``, ``scenario``.
"""
