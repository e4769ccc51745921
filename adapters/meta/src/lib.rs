//! Meta's WhatsApp Cloud API as Parley sees it.
