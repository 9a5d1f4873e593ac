"""An example chat gateway built on the messengers' own SDKs, for replaying chatsim against.

python-telegram-bot parses Telegram updates and sends through the Bot API, pywa handles
WhatsApp Cloud API webhooks and sends, viberbot checks, parses and answers Viber callbacks;
webchat is plain JSON. Agents use the gateway's own small desk API (:mod:`sdkgw.app`), routing
is an in-memory queue (:mod:`sdkgw.floor`). See ``examples/sdk-gateway/README.md``.
"""
