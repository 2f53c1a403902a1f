"""What a check saw, and whether it is what the scenario expects: the curl request a check
sends from a client pod (``probe``), what came back (``echo``), Envoy access-log lines
(``accesslog``), X-Forwarded-Client-Cert (``xfcc``), the fakes' own logs (``fakelogs``),
gathering one attempt's evidence (``observe``) and judging it (``verify``).

May import: ``core``, ``infra``, ``scenario``, ``rendering`` (the layout), ``fakes``.
"""
