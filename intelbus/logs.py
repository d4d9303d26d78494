"""structlog configured for services: one JSON object per line on stderr."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

__all__ = ["configure_logging"]


class _ToStructlog(logging.Handler):
    """Standard-library records (librdkafka's, through confluent-kafka) as structlog lines."""

    def emit(self, record: logging.LogRecord) -> None:
        structlog.get_logger().log(record.levelno, record.name, message=record.getMessage())


def configure_logging(level: str = "INFO", stream: TextIO = sys.stderr) -> None:
    root = logging.getLogger()
    root.handlers = [_ToStructlog()]
    root.setLevel(level)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
    )
