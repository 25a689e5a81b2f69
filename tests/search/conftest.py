pytest_plugins = ["livebase.testing"]
