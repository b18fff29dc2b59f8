"""Start the published pipeline over REST, as the Azure ML article does, and wait for it.

    python3 submit.py ENDPOINT TOKEN

ENDPOINT is what `runner publish` printed (the `runner serve` address), TOKEN what `runner
token create` printed. The request is the article's, verbatim but for the URL and the
token (the article takes an Azure AD header from `InteractiveLoginAuthentication`); the
polling after it uses `GET /runs/ID` (see docs/server.md). Exits 0 when the run finished.
"""

import sys
import time

import requests

rest_endpoint1, token = sys.argv[1], sys.argv[2]
aad_token = {"Authorization": "Bearer " + token}

# The article's call:
response = requests.post(rest_endpoint1,
                         headers=aad_token,
                         json={"ExperimentName": "My_Pipeline",
                               "ParameterAssignments": {"pipeline_arg": 20}})
run_id = response.json()["Id"]
print("run", run_id, response.json()["Status"])

server = rest_endpoint1.split("/pipelines/")[0]
while True:
    run = requests.get(f"{server}/runs/{run_id}", headers=aad_token).json()
    if run["Status"] in ("Finished", "Failed", "Canceled"):
        break
    time.sleep(0.5)
for step in run["Steps"]:
    print(f"{step['Status']:>8} {step['Name']}", step["Metrics"] or "")
print("run", run_id, run["Status"], run.get("Message") or "")
sys.exit(0 if run["Status"] == "Finished" else 1)
