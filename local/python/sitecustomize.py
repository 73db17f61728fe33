"""Points botocore releases older than 1.31.57 at the local emulators, as newer ones do themselves.

The local runtime puts this folder first on PYTHONPATH for its workers and their analyses. The
runtime sets AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>, which the AWS SDKs, the CLI and
botocore >= 1.31.57 read; older botocore (Debian 12's python3-boto3: botocore 1.29) ignores them
and would talk to real AWS. Here, once `botocore.session` is imported (never earlier: most Python
runs never use botocore, and importing it costs time), every client created without an explicit
endpoint_url gets the one those variables name, with path-style S3 addressing (s3rver needs it).
A botocore that reads the variables itself is left untouched. Nothing here may break the user's
program: if the hook fails, botocore stays as it is and one warning goes to stderr.
"""

import importlib.machinery  # not importlib.util: it costs every Python start milliseconds
import os
import sys

_warned = False


def _warn(error):
    global _warned
    if not _warned:
        _warned = True
        print(
            "ncaas local: could not point botocore at the local emulators (%r); its clients may"
            " reach real AWS endpoints" % (error,),
            file=sys.stderr,
        )


def _configured_endpoint(service_id):
    # The SDKs' rule: the service's own variable, else the global one; empty means unset.
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    own = "AWS_ENDPOINT_URL_" + service_id.upper().replace(" ", "_")
    return os.environ.get(own) or os.environ.get("AWS_ENDPOINT_URL") or None


def _path_style(config):
    from botocore.config import Config

    s3 = dict(getattr(config, "s3", None) or {})
    if s3.get("addressing_style"):
        return config  # the caller chose
    s3["addressing_style"] = "path"
    return config.merge(Config(s3=s3)) if config else Config(s3=s3)


def _install(session_module):
    import functools
    import inspect

    import botocore.configprovider

    if hasattr(botocore.configprovider, "ConfiguredEndpointProvider"):
        return  # botocore >= 1.31.57 reads AWS_ENDPOINT_URL(_<SERVICE>) itself
    original = session_module.Session.create_client
    signature = inspect.signature(original)

    @functools.wraps(original)
    def create_client(self, *args, **kwargs):
        try:
            call = signature.bind(self, *args, **kwargs)
            given = call.arguments
            if given.get("endpoint_url") is None:
                # The variables are named after the model's service id (s3: S3, dynamodb: DynamoDB).
                model = self.get_service_model(given["service_name"], given.get("api_version"))
                endpoint = _configured_endpoint(model.service_id)
                if endpoint:
                    given["endpoint_url"] = endpoint
                    if model.service_id == "S3":
                        given["config"] = _path_style(given.get("config"))
        except Exception as error:
            # The caller's own mistakes (unknown service, bad arguments) raise here, as without the
            # hook; only a failure of the hook itself gets past this call to the warning.
            client = original(self, *args, **kwargs)
            _warn(error)
            return client
        return original(*call.args, **call.kwargs)

    session_module.Session.create_client = create_client


class _PatchBotocoreOnImport:
    """Finds nothing itself: it has botocore.session patched right after that module loads."""

    def find_spec(self, name, path=None, target=None):
        if name != "botocore.session":
            return None
        try:
            spec = importlib.machinery.PathFinder.find_spec(name, path, target)
            if spec is None or spec.loader is None:
                return None
            load = spec.loader.exec_module

            def exec_module(module):
                load(module)  # its own errors are the import's, not the hook's
                try:
                    _install(module)
                except Exception as error:
                    _warn(error)

            spec.loader.exec_module = exec_module
            return spec
        except Exception as error:
            _warn(error)
            return None


def _chain_next_sitecustomize():
    # Only one `sitecustomize` is imported: run the one this file hides (Debian's, a venv's).
    here = os.path.dirname(os.path.realpath(__file__))
    rest = [p for p in sys.path if os.path.realpath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = type(sys)("sitecustomize")
        module.__file__, module.__spec__, module.__loader__ = spec.origin, spec, spec.loader
        spec.loader.exec_module(module)


try:
    if "botocore.session" in sys.modules:
        _install(sys.modules["botocore.session"])
    else:
        sys.meta_path.insert(0, _PatchBotocoreOnImport())
except Exception as error:
    _warn(error)

try:
    _chain_next_sitecustomize()
except Exception as error:
    print("Error in sitecustomize (%s): %r" % (__file__, error), file=sys.stderr)
