"""The web server (`qa serve`): the chat (Gradio) and the JSON API over one index, on one port.

Its modules, each importing only those listed before it:

- access: who may reach the server and who may write (loopback, logins, host names, origins);
- library: the server's state, the index in use and the collection's folders;
- render: answers → the chat's HTML;
- pages: the article page a citation opens (built on library);
- app: the Gradio chat and Collection tab;
- api: the JSON API (built on access and library; it does not import the chat);
- server: the guards in front of every route, the ASGI app, serve().
"""

import os

# Before any module of the package imports Gradio (or the Hugging Face hub beneath it).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from an offline tool
os.environ.setdefault("HF_HUB_OFFLINE", "1")
