/**
 * The `--help` texts. The README's "Command line" section says the same.
 *
 * @module
 */

const CONNECTION = `Connection and store:
  --broker URL            NATS server(s), comma-separated (env NATS_URL, default nats://localhost:4222)
  --fileserver URL        Plik file server (env FILESERVER_URL, default http://localhost:8080)
  --plik-token TOKEN      Plik upload token, for servers that require one (env PLIK_TOKEN)
  --store KIND            plik (default) | objectstore | objectstore:<bucket> (JetStream Object Store, bucket "natsbridge" by default)
  --ttl DURATION|never    lifetime of uploaded payloads: 3600, 90m, 30d (default 24h)
  --one-shot              Plik deletes the file when its first download starts (one receiver only)
  --max-bytes BYTES       Object Store: size limit of the bucket when it is created (for accounts
                          that require one)

Secured NATS (user, password or token go in the URL: nats://user:pass@host:4222):
  --tls-ca FILE           CA certificate(s) the server's certificate is checked against (env NATS_CA)
  --tls-cert FILE         client certificate, for servers that verify clients (env NATS_CERT)
  --tls-key FILE          its private key (env NATS_KEY)
  --creds FILE            NATS credentials file: user JWT and NKey seed (env NATS_CREDS)
  --nkey FILE             NKey user seed file (env NATS_NKEY)`;

const COMMON = `Output:
  --json                  one JSON object per line on stdout; no status or progress on stderr
  -v, --verbose           natsbridge's own log lines on stderr
  -h, --help              this help`;

const PAYLOADS = `Payloads (repeatable, sent in command-line order):
  --text STR              a text payload
  --dict JSON|@FILE       a dictionary payload: JSON object or array, inline or from a file
  --table FILE            a table: .arrow/.feather (Arrow IPC) -> arrowtable, .csv -> arrowtable,
                          .json (array of row objects) -> jsontable
  --as arrowtable|jsontable
                          type of the next --table (CSV and JSON only)
  --file PATH[:TYPE]      a file; TYPE is image, audio, video or binary (default binary). Files at or
                          above the threshold are streamed to the store by link, never read whole
  --name NAME             name of the next payload, used once (default: the file name; --table and
                          --dict @FILE without extension; "text", "dict"; "_2", "_3", ... when taken)`;

const ENVELOPE = `Envelope:
  --purpose STR           msg_purpose (default chat)
  --correlation-id ID     correlation_id (default: a new UUID)
  --msg-id ID             msg_id (default: a new UUID)
  --sender-name STR       sender_name (default NATSBridge)
  --sender-id ID          sender_id (default: a new UUID)
  --receiver-name STR     receiver_name
  --receiver-id ID        receiver_id
  --reply-to-msg-id ID    reply_to_msg_id
  --metadata JSON         envelope metadata (a JSON object)
  --threshold BYTES       serialized size from which a payload goes by link (env SIZE_THRESHOLD, default 500000)`;

const RECEIVE = `Receiving:
  --out DIR               save payloads as files in DIR (binary types as they are, text .txt,
                          dictionary/jsontable .json, arrowtable .arrow); never overwrites
  --allow-origin ORIGIN   also download links from ORIGIN (repeatable); links are fetched only from
                          --fileserver, the --store and these`;

const EXIT =
  `Exit codes: 0 ok, 1 runtime or transport error, 2 usage error, 3 invalid envelope or payload,
4 timeout, 130 interrupted. inspect: 0 valid, 1 invalid, 2 usage error or unreadable input.
Errors are one line on stderr: natsbridge: CODE message`;

/** Help texts by command; `""` is the top level. */
export const HELP: Readonly<Record<string, string>> = {
  "": `natsbridge — typed payloads over NATS in one JSON envelope (msg_envelope_v1)

Usage:
  natsbridge send <subject> [payloads] [options]      publish one message
  natsbridge listen <subject> [options]               print (and save) each message received
  natsbridge request <subject> [payloads] [options]   send and wait for the reply (reply_to)
  natsbridge inspect <envelope.json|->                check an envelope against the contract
  natsbridge <command> --help                         flags of a command
  natsbridge --version

Examples:
  natsbridge listen chat --out ./received
  natsbridge send chat --text "Hello!" --dict '{"step": 0.01}' --file photo.png:image
  natsbridge send jobs.new --table scores.csv --jetstream --stream JOBS
  natsbridge request svc.echo --text ping --timeout 5s

${EXIT}`,

  send: `Usage: natsbridge send <subject> [payloads] [options]

Publishes one msg_envelope_v1 message and prints what was sent.

${PAYLOADS}

${ENVELOPE}
  --reply-to SUBJECT      reply_to

JetStream:
  --jetstream             publish to JetStream and wait for the stream's ack (Nats-Msg-Id = msg_id)
  --stream NAME           with --jetstream: create stream NAME capturing <subject> if it does not exist

${CONNECTION}

${COMMON}

${EXIT}`,

  listen: `Usage: natsbridge listen <subject> [options]

Subscribes to <subject> (wildcards allowed) and prints each message: a header line (subject,
msg_id, correlation_id, sender), then one line per payload (name, type, size, transport,
checksum). A message that cannot be received is reported on stderr and listening goes on; so is
the loss of the NATS server (what is published meanwhile is lost, but with --jetstream) and its return.

  --count N               stop after N messages
  --timeout DURATION      stop after this long (exit 4 if --count was not reached): 30, 500ms, 10s, 2m
  --queue GROUP           join a queue group (each message goes to one member)

${RECEIVE}

JetStream (at-least-once; a message is acked once its payloads are verified and saved):
  --jetstream             consume from a durable JetStream consumer instead of subscribing
  --stream NAME           the stream (created capturing <subject> if it does not exist)
  --durable NAME          the durable consumer (created if it does not exist)
  --max-deliver N         deliveries before a failing message is dead-lettered (default 5; set on
                          an existing durable too, else its own applies)
  --ack-wait DURATION     how long a message may take before it is delivered again (default 30s;
                          a download or a save to --out counts only while it stalls)
  --dead-letter-subject SUBJECT
                          where bad messages go (default natsbridge.dead.<stream>; must not be
                          one the stream stores and <subject> matches)

${CONNECTION}

${COMMON}

${EXIT}`,

  request: `Usage: natsbridge request <subject> [payloads] [options]

Sends a message whose reply_to is a fresh inbox and prints the reply (the envelope whose
reply_to_msg_id is the request's msg_id, or empty), like listen does.

  --timeout DURATION      how long to wait for the reply (default 30s)

${PAYLOADS}

${ENVELOPE}

${RECEIVE}

${CONNECTION}

${COMMON}

${EXIT}`,

  inspect: `Usage: natsbridge inspect <envelope.json|-> [options]

Checks an envelope (a file, or - for stdin) against msg_envelope_v1 and explains every problem
found. Direct payloads are decoded and their size and checksum verified; links are not fetched.

  --fileserver URL        also check that links point to this file server ...
  --allow-origin ORIGIN   ... or to these origins (repeatable); without either, link origins are not checked

${COMMON}

Exit codes: 0 valid, 1 invalid, 2 usage error or unreadable input.`,
};
