"""The compliance console: a web application for reviewers over the console's store of the
decision log (consumers/console_store/), served on 127.0.0.1 by uvicorn; every page and
asset is the app's own (no CDN)."""
