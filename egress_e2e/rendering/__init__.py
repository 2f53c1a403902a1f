"""From a scenario to the manifests it applies: where its objects live (``layout``, the seed's
own names or an isolated run), the Jinja templates under ``manifests/`` rendered into a plan
(``render``), and offline validation against Istio's API models (``lint``).

May import: ``core``, ``infra``, ``scenario``.
"""
