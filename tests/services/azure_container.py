"""Creates a blob container with Azure's REST API (Shared Key), standard library only:
python3 azure_container.py ENDPOINT ACCOUNT KEY CONTAINER. Exit 0 when it exists after."""
import base64, hashlib, hmac, sys, urllib.request, urllib.error
from email.utils import formatdate

endpoint, account, key, container = sys.argv[1:5]
date = formatdate(usegmt=True)
version = "2021-08-06"
# https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key (a zero
# Content-Length is signed as an empty string since version 2015-02-21)
path = urllib.parse.urlparse(endpoint).path.rstrip("/") + "/" + container
to_sign = "\n".join(["PUT", "", "", "", "", "", "", "", "", "", "", "",
                     f"x-ms-date:{date}\nx-ms-version:{version}",
                     f"/{account}{path}\nrestype:container"])
sig = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()).decode()
req = urllib.request.Request(f"{endpoint}/{container}?restype=container", method="PUT", data=None,
                             headers={"x-ms-date": date, "x-ms-version": version, "Content-Length": "0",
                                      "Authorization": f"SharedKey {account}:{sig}"})
try:
    urllib.request.urlopen(req, timeout=2)
except urllib.error.HTTPError as e:
    if e.code != 409:  # 409: it exists already
        sys.exit(f"{e.code} {e.read()[:200]!r}")
