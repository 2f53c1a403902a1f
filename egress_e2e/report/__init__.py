"""Reports a person can read in a minute: HTML, JUnit, timings and a terminal summary.

``model`` holds the recorded result set; ``record`` is what scenario tests call; the renderers
(``html``, ``flow_svg``, ``junit``, ``summary``) read only the result set; ``pytest_plugin``
ties them to a pytest run.

May import: ``core``, ``infra``, ``scenario``, ``evidence`` (what a check saw).
"""
