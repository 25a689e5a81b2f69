"""agentfeed's sinks: durable consumers of the Livebase change stream that forward captured
events to PostHog, an MQTT broker (Home Assistant) and a signed webhook.

``agentfeed sinks`` (``cli.py``) runs every sink its settings switch on (``settings.py``), each
with its own cursor, retries and dead letters (``runner.py``); ``agentfeed serve`` starts it
next to the server when any sink is configured. See docs/agentfeed.md, "Sinks".
"""
