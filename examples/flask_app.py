"""The sync API in a Flask app: enqueue from request handlers, in a transaction.

``POST /signup`` stores the user and enqueues their welcome email in one
transaction with the sync ``awa.Client``. A duplicate signup fails on the
database's unique constraint, so nothing of it is kept: no second email.
The workers run plain ``def`` handlers in threads. Here the requests come
from Flask's test client so the example runs by itself; ``flask --app
examples.flask_app run`` serves the same app.
"""

import os
from dataclasses import dataclass

from flask import Flask, request

import awa

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://localhost/mydb")

client = awa.Client(DATABASE_URL)
app = Flask(__name__)


@dataclass
class SendWelcome:
    email: str


@app.post("/signup")
def signup():
    email = (request.get_json(silent=True) or {}).get("email", "")
    if "@" not in email:
        return {"error": "a valid email is required"}, 400
    try:
        with client.transaction() as tx:
            tx.execute("INSERT INTO users (email) VALUES ($1)", email)
            job = tx.insert(SendWelcome(email=email), queue="email")
    except awa.DatabaseError:
        return {"error": f"{email} has already signed up"}, 409
    return {"job_id": job.id}, 201


@client.worker(SendWelcome, queue="email")
def send_welcome(job: awa.JobContext) -> None:
    print(f"welcome email sent to {job.args.email}")


def main() -> None:
    client.migrate()
    with client.transaction() as tx:
        tx.execute("CREATE TABLE IF NOT EXISTS users (email text PRIMARY KEY)")

    http = app.test_client()
    job_ids = []
    for email in ["alice@example.com", "bob@example.com", "alice@example.com", "nobody"]:
        response = http.post("/signup", json={"email": email})
        print(response.status_code, response.get_json())
        if response.status_code == 201:
            job_ids.append(response.get_json()["job_id"])

    client.start([("email", 2)])  # workers on a background thread
    for job_id in job_ids:
        job = client.wait_for(job_id, timeout=30)
        print(f"job {job.id}: {job.state.value}")
    client.close()


if __name__ == "__main__":
    main()
