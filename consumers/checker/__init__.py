"""The exactly-once checker: holds a bus (and its publishers' ack logs and subscribers'
receipts) to "every acknowledged event decided and delivered once per recipient"."""
