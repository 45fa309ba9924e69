"""``ccta-ai viewer``: serve the OHIF Viewer beside Orthanc for radiologists."""

from __future__ import annotations

import argparse
import os
import signal

#: Environment variables for Orthanc's credentials (a password on the command line is
#: visible to every user through ``ps``).
USER_ENV = "CCTA_AI_ORTHANC_USER"
PASSWORD_ENV = "CCTA_AI_ORTHANC_PASSWORD"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--orthanc", default="http://127.0.0.1:8042", metavar="URL",
                        help="Orthanc's HTTP root (default %(default)s); "
                             "http://user:password@host:port also gives the credentials")
    parser.add_argument("--dicomweb-root", default="/dicom-web/", metavar="PATH",
                        help="the DicomWeb.Root of Orthanc's configuration (default "
                             "%(default)s)")
    parser.add_argument("--user", default=None,
                        help=f"Orthanc user (default: ${USER_ENV}); the password is read "
                             f"from ${PASSWORD_ENV}")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default %(default)s; 0.0.0.0 opens the "
                             "viewer, and Orthanc's studies, to the network)")
    parser.add_argument("--port", type=int, default=8043, help="port (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    from ccta_ai.viewer.serve import ViewerServer, ViewerSite, split_credentials

    url, user, password = split_credentials(args.orthanc)
    user = args.user or user or os.environ.get(USER_ENV, "")
    password = password or os.environ.get(PASSWORD_ENV, "")
    site = ViewerSite(url, username=user, password=password,
                      dicomweb_root=args.dicomweb_root)
    server = ViewerServer(site, host=args.host, port=args.port)
    # Ctrl-C and SIGTERM stop it, also when it was started with SIGINT ignored (as a
    # background job of a non-interactive shell is, and its children after it)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print(f"OHIF Viewer on {server.url}/ (DICOMweb of {url}{args.dicomweb_root}); "
          "Ctrl-C stops it", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
