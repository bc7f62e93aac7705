"""Seeing what the gateway does (issue 13): per-request notes taken from the request
(`request_notes`), costs from a price table (`costs`), Prometheus metrics (`metrics`), and the
the health report (`aigw.gateway.health_report`). Each finished request reaches them through the `Observer` protocol
(aigw.interfaces), called by the pipeline whether or not the request is logged.
"""
