"""nnabla's ``nnabla.config``: ``nnabla_config``, a ConfigParser with nnabla.conf's data-iterator defaults.

Overrides are read, in order, from ``/etc/nnabla.conf``, ``~/.nnabla``, ``./nnabla.conf`` and the file named by
``$NNABLA_CONFIG_FILE_PATH``.
"""

from __future__ import annotations

import configparser
import os

__all__ = ["nnabla_config"]

_DEFAULTS = {
    "DATA_ITERATOR": {
        "cache_file_format": ".npy",
        "data_source_file_cache_num_of_threads": "10",
        "cache_file_cache_num_of_threads": "4",
        "data_source_file_cache_size": "100",
        "data_source_file_cache_location": "",
        "data_source_buffer_max_size": "1073741824",
    },
    "MISC": {"nnp_param_format": ".h5"},
}

nnabla_config = configparser.RawConfigParser()
nnabla_config.read_dict(_DEFAULTS)
nnabla_config.read(
    [
        "/etc/nnabla.conf",
        os.path.expanduser("~/.nnabla"),
        os.path.join(os.getcwd(), "nnabla.conf"),
        *([os.environ["NNABLA_CONFIG_FILE_PATH"]] if os.environ.get("NNABLA_CONFIG_FILE_PATH") else []),
    ]
)
