"""The Stripe Connect rail: the SDK adapter (``client.py``, the only module importing ``stripe``) and a local
Stripe-speaking server (``local_server.py``) for tests and the demo."""
