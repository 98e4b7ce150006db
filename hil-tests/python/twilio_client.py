"""twilio-python against the SIM7600 bot's Twilio REST subset (client.api.base_url
pointed at the bot). One step per run, its result printed as one JSON line.

Usage: twilio_client.py BASE_URL ACCOUNT TOKEN STEP [ARGS...]
  call TO FROM TWIML STATUS_CALLBACK   calls.create(...); prints sid and status
  fetch SID                            calls(sid).fetch(); prints status
  hangup SID                           calls(sid).update(status="completed")
  sms TO BODY                          messages.create(...); prints sid and status
  message SID                          messages(sid).fetch(); prints status
  missing SID                          calls(sid).fetch() of an unknown call: prints the error
  validate URL SIGNATURE FORM          RequestValidator(token).validate(...)
"""

import json
import sys
import urllib.parse

from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

base_url, account, token, step, *rest = sys.argv[1:]
client = Client(account, token)
client.api.base_url = base_url

if step == "call":
    to, from_, twiml, callback = rest
    call = client.calls.create(
        to=to,
        from_=from_,
        twiml=twiml,
        status_callback=callback,
        status_callback_event=["ringing", "answered", "completed"],
        timeout=30,
    )
    print(json.dumps({"sid": call.sid, "status": call.status}))
elif step == "fetch":
    print(json.dumps({"status": client.calls(rest[0]).fetch().status}))
elif step == "hangup":
    print(json.dumps({"status": client.calls(rest[0]).update(status="completed").status}))
elif step == "sms":
    message = client.messages.create(to=rest[0], from_="+10000000000", body=rest[1])
    print(json.dumps({"sid": message.sid, "status": message.status}))
elif step == "message":
    print(json.dumps({"status": client.messages(rest[0]).fetch().status}))
elif step == "missing":
    try:
        client.calls(rest[0]).fetch()
        print(json.dumps({"error": None}))
    except TwilioRestException as e:
        print(json.dumps({"status": e.status, "code": e.code}))
elif step == "validate":
    url, signature, form = rest
    params = dict(urllib.parse.parse_qsl(form, keep_blank_values=True))
    print(json.dumps({"valid": RequestValidator(token).validate(url, params, signature)}))
else:
    sys.exit(f"unknown step {step}")
