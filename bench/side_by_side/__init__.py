"""Parts of ``bench/vs_pocketbase.py``: Livebase and PocketBase side by side (issue 17).

``servers`` starts and stops both servers (and runs pgbench), ``clients`` holds the raw
WebSocket and SSE clients, ``workloads`` the W1-W4 measurements for each side and ``report`` the
medians, ratios, table, JSON and plots.
"""
