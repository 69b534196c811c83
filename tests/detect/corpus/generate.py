"""Deterministic generator of the labelled detection corpus (issue 3, item 10).

    python tests/detect/corpus/generate.py OUTDIR

writes realistic files (env files, shell history, YAML, JSON tool results, code, logs,
lockfiles, docs) into OUTDIR plus ``labels.json``. Every secret is synthetic, made here from
a seeded generator in the documented format of its provider, so nothing real is stored and
the same seed always gives the same bytes. Hard negatives sit next to the secrets: hashes,
UUIDs, git SHAs, base64 images, lockfile integrity lines, minified JS, documented example
keys and placeholders.

A label is ``{"file", "line", "family", "rule", "expected"}``: ``expected`` true means a
finding of that family must be reported on that line (1-based); false marks a hard negative
line, where no finding is allowed. Lines without a label must stay clean too.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import string
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

SEED = 20261121
AN = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
URL = AN + "-_"
B64 = AN + "+/"


@dataclass
class Label:
    file: str
    line: int
    family: str
    rule: str
    expected: bool


@dataclass
class Doc:
    name: str
    lines: list[str] = field(default_factory=list)

    def add(self, text: str) -> int:
        """Append ``text`` (may hold newlines); return the 1-based line of its first line."""
        first = len(self.lines) + 1
        self.lines.extend(text.split("\n"))
        return first


class Rand:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def s(self, alphabet: str, n: int) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def an(self, n: int) -> str:
        return self.s(AN, n)

    def hex(self, n: int) -> str:
        return self.s(HEX, n)

    def url(self, n: int) -> str:
        return self.s(URL, n)

    def b64(self, n: int) -> str:
        return self.s(B64, n)

    def up(self, n: int) -> str:
        return self.s(string.ascii_uppercase + string.digits, n)

    def low(self, n: int) -> str:
        return self.s(string.ascii_lowercase + string.digits, n)

    def digits(self, n: int) -> str:
        return str(self.r.randint(1, 9)) + self.s(string.digits, n - 1)

    def uuid(self) -> str:
        h = self.hex(32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{self.r.choice('89ab')}{h[17:20]}-{h[20:]}"

    def choice(self, items):  # type: ignore[no-untyped-def]
        return self.r.choice(items)

    def password(self) -> str:
        return self.an(5) + self.choice("!#%^*-_.") + self.an(4) + self.choice("!#%^*") + self.an(4)

    def checksum_token(self, prefix: str) -> str:
        body = self.an(30)
        value = binascii.crc32(body.encode())
        digits = ""
        while value:
            value, rem = divmod(value, 62)
            digits = B62[rem] + digits
        return prefix + body + digits.rjust(6, "0")


def _b64url_json(obj: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def _jwt(r: Rand) -> str:
    header = _b64url_json({"alg": r.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"})
    payload = _b64url_json(
        {"sub": r.uuid(), "iat": 1767225600 + r.r.randint(0, 10**6), "role": r.choice(["admin", "svc"])}
    )
    return f"{header}.{payload}.{r.url(r.choice([43, 86, 342]))}"


def _pem(r: Rand, label: str) -> str:
    raw = bytes(r.r.randrange(256) for _ in range(r.choice([300, 600, 1190])))
    body = base64.b64encode(raw).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----"


# name -> (family, rule id, env var name, maker). Formats follow the providers' public docs.
Maker = Callable[[Rand], str]
SECRETS: dict[str, tuple[str, str, str, Maker]] = {
    "aws-key-id": (
        "cloud",
        "aws-access-key-id",
        "AWS_ACCESS_KEY_ID",
        lambda r: "AKIA" + r.s("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
    ),
    "aws-secret": ("cloud", "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY", lambda r: r.b64(40)),
    "gcp-api-key": ("cloud", "gcp-api-key", "GOOGLE_API_KEY", lambda r: "AIzaSy" + r.url(33)),
    "gcp-oauth-secret": ("cloud", "gcp-oauth-client-secret", "GOOGLE_CLIENT_SECRET", lambda r: "GOCSPX-" + r.url(28)),
    "azure-client-secret": (
        "cloud",
        "azure-ad-client-secret",
        "AZURE_CLIENT_SECRET",
        lambda r: r.an(3) + "8Q~" + r.url(34),
    ),
    "do-pat": ("cloud", "digitalocean-pat", "DIGITALOCEAN_TOKEN", lambda r: "dop_v1_" + r.hex(64)),
    "tailscale": ("cloud", "tailscale-key", "TS_AUTHKEY", lambda r: f"tskey-auth-k{r.an(9)}CNTRL-{r.an(33)}"),
    "databricks": ("cloud", "databricks-token", "DATABRICKS_TOKEN", lambda r: "dapi" + r.hex(32)),
    "supabase-pat": ("cloud", "supabase-management-token", "SUPABASE_ACCESS_TOKEN", lambda r: "sbp_" + r.hex(40)),
    "alibaba-id": ("cloud", "alibaba-access-key-id", "ALIBABA_CLOUD_ACCESS_KEY_ID", lambda r: "LTAI5t" + r.an(18)),
    "azure-storage": (
        "cloud",
        "azure-storage-account-key",
        "AZURE_STORAGE_CONNECTION_STRING",
        lambda r: (
            f"DefaultEndpointsProtocol=https;AccountName=st{r.low(8)};AccountKey={r.b64(86)}==;EndpointSuffix=core.windows.net"
        ),
    ),
    "github-classic": ("source-hosting", "github-pat-classic", "GITHUB_TOKEN", lambda r: r.checksum_token("ghp_")),
    "github-app": ("source-hosting", "github-app-installation-token", "GH_TOKEN", lambda r: r.checksum_token("ghs_")),
    "github-fine": (
        "source-hosting",
        "github-pat-fine-grained",
        "GITHUB_PAT",
        lambda r: "github_pat_11" + r.an(20) + "_" + r.an(59),
    ),
    "gitlab-pat": ("source-hosting", "gitlab-pat", "GITLAB_TOKEN", lambda r: "glpat-" + r.url(20)),
    "gitlab-runner": (
        "source-hosting",
        "gitlab-runner-registration-token",
        "RUNNER_TOKEN",
        lambda r: "GR1348941" + r.url(20),
    ),
    "bitbucket": ("source-hosting", "bitbucket-app-password", "BITBUCKET_APP_PASSWORD", lambda r: "ATBB" + r.an(32)),
    "atlassian": (
        "source-hosting",
        "atlassian-api-token",
        "JIRA_API_TOKEN",
        lambda r: "ATATT3xFfGF0" + r.url(180) + "=" + r.hex(8).upper(),
    ),
    "openai-proj": (
        "ai",
        "openai-project-key",
        "OPENAI_API_KEY",
        lambda r: "sk-proj-" + r.url(74) + "T3BlbkFJ" + r.url(74),
    ),
    "openai-legacy": (
        "ai",
        "openai-api-key-legacy",
        "OPENAI_API_KEY",
        lambda r: "sk-" + r.an(20) + "T3BlbkFJ" + r.an(20),
    ),
    "anthropic": ("ai", "anthropic-api-key", "ANTHROPIC_API_KEY", lambda r: "sk-ant-api03-" + r.url(93) + "AA"),
    "huggingface": ("ai", "huggingface-token", "HF_TOKEN", lambda r: "hf_" + r.s(string.ascii_letters, 34)),
    "groq": ("ai", "groq-api-key", "GROQ_API_KEY", lambda r: "gsk_" + r.an(52)),
    "replicate": ("ai", "replicate-api-token", "REPLICATE_API_TOKEN", lambda r: "r8_" + r.an(37)),
    "perplexity": ("ai", "perplexity-api-key", "PERPLEXITY_API_KEY", lambda r: "pplx-" + r.an(48)),
    "xai": ("ai", "xai-api-key", "XAI_API_KEY", lambda r: "xai-" + r.an(80)),
    "openrouter": ("ai", "openrouter-api-key", "OPENROUTER_API_KEY", lambda r: "sk-or-v1-" + r.hex(64)),
    "langsmith": ("ai", "langsmith-api-key", "LANGSMITH_API_KEY", lambda r: f"lsv2_pt_{r.hex(32)}_{r.hex(10)}"),
    "stripe-live": ("payments", "stripe-secret-key", "STRIPE_SECRET_KEY", lambda r: "sk_live_51" + r.an(97)),
    "stripe-rk": ("payments", "stripe-restricted-key", "STRIPE_RESTRICTED_KEY", lambda r: "rk_live_51" + r.an(97)),
    "stripe-webhook": ("payments", "stripe-webhook-secret", "STRIPE_WEBHOOK_SECRET", lambda r: "whsec_" + r.an(32)),
    "square": ("payments", "square-access-token", "SQUARE_ACCESS_TOKEN", lambda r: "EAAA" + r.url(60)),
    "braintree": (
        "payments",
        "braintree-access-token",
        "BRAINTREE_TOKEN",
        lambda r: f"access_token$production${r.low(16)}${r.hex(32)}",
    ),
    "slack-bot": (
        "messaging",
        "slack-bot-token",
        "SLACK_BOT_TOKEN",
        lambda r: f"xoxb-{r.digits(12)}-{r.digits(13)}-{r.an(24)}",
    ),
    "slack-webhook": (
        "messaging",
        "slack-webhook-url",
        "SLACK_WEBHOOK_URL",
        lambda r: f"https://hooks.slack.com/services/T{r.up(10)}/B{r.up(10)}/{r.an(24)}",
    ),
    "sendgrid": ("messaging", "sendgrid-api-key", "SENDGRID_API_KEY", lambda r: f"SG.{r.url(22)}.{r.url(43)}"),
    "twilio-token": ("messaging", "twilio-auth-token", "TWILIO_AUTH_TOKEN", lambda r: r.hex(32)),
    "telegram": ("messaging", "telegram-bot-token", "TELEGRAM_BOT_TOKEN", lambda r: f"{r.digits(10)}:AA{r.url(33)}"),
    "discord-webhook": (
        "messaging",
        "discord-webhook-url",
        "DISCORD_WEBHOOK",
        lambda r: f"https://discord.com/api/webhooks/{r.digits(19)}/{r.url(68)}",
    ),
    "mailchimp": (
        "messaging",
        "mailchimp-api-key",
        "MAILCHIMP_API_KEY",
        lambda r: r.hex(32) + "-us" + str(r.r.randint(1, 21)),
    ),
    "npm": ("registries", "npm-access-token", "NPM_TOKEN", lambda r: r.checksum_token("npm_")),
    "pypi": ("registries", "pypi-upload-token", "TWINE_PASSWORD", lambda r: "pypi-AgEIcHlwaS5vcmc" + r.url(150)),
    "rubygems": ("registries", "rubygems-api-key", "GEM_HOST_API_KEY", lambda r: "rubygems_" + r.hex(48)),
    "dockerhub": ("registries", "dockerhub-pat", "DOCKERHUB_TOKEN", lambda r: "dckr_pat_" + r.url(27)),
    "nuget": ("registries", "nuget-api-key", "NUGET_API_KEY", lambda r: "oy2" + r.low(43)),
    "crates": ("registries", "crates-io-token", "CARGO_REGISTRY_TOKEN", lambda r: "cio" + r.an(32)),
    "postgres": (
        "databases",
        "postgres-url-password",
        "DATABASE_URL",
        lambda r: f"postgresql://app_{r.low(4)}:{r.password()}@db-{r.low(5)}.prod.internal:5432/app",
    ),
    "mysql": (
        "databases",
        "mysql-url-password",
        "MYSQL_URL",
        lambda r: f"mysql://shop:{r.password()}@mysql-primary:3306/shop",
    ),
    "mongodb": (
        "databases",
        "mongodb-url-password",
        "MONGO_URI",
        lambda r: f"mongodb+srv://api:{r.an(16)}@cluster0.{r.low(5)}.mongodb.net/prod?retryWrites=true",
    ),
    "redis": (
        "databases",
        "redis-url-password",
        "REDIS_URL",
        lambda r: f"rediss://default:{r.an(24)}@cache-{r.low(4)}.example-redis.net:6380",
    ),
    "amqp": (
        "databases",
        "amqp-url-password",
        "BROKER_URL",
        lambda r: f"amqps://orders:{r.an(18)}@rabbit.prod:5671/orders",
    ),
    "jwt": ("jwt", "jwt", "ID_TOKEN", _jwt),
    "newrelic": ("observability", "newrelic-user-api-key", "NEW_RELIC_API_KEY", lambda r: "NRAK-" + r.up(27)),
    "sentry": ("observability", "sentry-user-token", "SENTRY_AUTH_TOKEN", lambda r: "sntryu_" + r.hex(64)),
    "grafana": (
        "observability",
        "grafana-service-account-token",
        "GRAFANA_TOKEN",
        lambda r: f"glsa_{r.an(32)}_{r.hex(8)}",
    ),
    "datadog": ("observability", "datadog-api-key", "DD_API_KEY", lambda r: r.hex(32)),
    "dynatrace": ("observability", "dynatrace-api-token", "DT_API_TOKEN", lambda r: f"dt0c01.{r.up(24)}.{r.up(64)}"),
    "shopify": ("saas", "shopify-access-token", "SHOPIFY_ACCESS_TOKEN", lambda r: "shpat_" + r.hex(32)),
    "linear": ("saas", "linear-api-key", "LINEAR_API_KEY", lambda r: "lin_api_" + r.an(40)),
    "notion": ("saas", "notion-integration-token", "NOTION_TOKEN", lambda r: "ntn_" + r.digits(11) + r.an(35)),
    "hubspot": ("saas", "hubspot-private-app-token", "HUBSPOT_TOKEN", lambda r: "pat-na1-" + r.uuid()),
    "postman": ("saas", "postman-api-key", "POSTMAN_API_KEY", lambda r: f"PMAK-{r.hex(24)}-{r.hex(34)}"),
    "figma": ("saas", "figma-pat", "FIGMA_TOKEN", lambda r: "figd_" + r.url(40)),
    "airtable": ("saas", "airtable-pat", "AIRTABLE_TOKEN", lambda r: f"pat{r.an(14)}.{r.hex(64)}"),
    "circleci": ("ci", "circleci-personal-token", "CIRCLECI_TOKEN", lambda r: f"CCIPAT_{r.an(22)}_{r.hex(40)}"),
    "sonar": ("ci", "sonarqube-token", "SONAR_TOKEN", lambda r: "squ_" + r.hex(40)),
    "vault": ("infrastructure", "vault-service-token", "VAULT_TOKEN", lambda r: "hvs.CAESI" + r.url(90)),
    "terraform": ("infrastructure", "terraform-cloud-token", "TFE_TOKEN", lambda r: f"{r.an(14)}.atlasv1.{r.url(67)}"),
    "pulumi": ("infrastructure", "pulumi-access-token", "PULUMI_ACCESS_TOKEN", lambda r: "pul-" + r.hex(40)),
    "doppler": ("infrastructure", "doppler-token", "DOPPLER_TOKEN", lambda r: "dp.st." + r.an(43)),
    "age": (
        "private-keys",
        "age-secret-key",
        "SOPS_AGE_RECIPIENT_KEY",
        lambda r: "AGE-SECRET-KEY-1" + r.s("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58),
    ),
    "generic-password": ("generic", "generic-password", "SMTP_PASSWORD", lambda r: r.password()),
    "generic-secret": ("generic", "generic-secret", "SESSION_SECRET", lambda r: r.an(12) + r.choice("!#%") + r.an(11)),
    "generic-api-key": ("generic", "generic-api-key", "WEATHER_API_KEY", lambda r: r.an(24)),
    "generic-token": ("generic", "generic-token", "INTERNAL_SERVICE_TOKEN", lambda r: r.an(28)),
}

FILLER_CODE = [
    "def tokenize(text: str) -> list[str]:",
    "    return [t for t in text.split() if t]",
    "for (const token of lexer.tokens()) { parse(token); }",
    "if password_policy.min_length < 12: raise ValueError('password too short')",
    'secret_name = f"{service}-db-credentials"',
    "# rotate the api key every 90 days; see docs/security.md",
    "user.set_password(form.cleaned_data['password'])",
    "const apiKeyHeader = 'X-Api-Key';",
    "logger.info('token refreshed for %s', user_id)",
    "func (c *Client) Token() string { return c.token }",
    "export function hashPassword(pw: string): Promise<string> {",
    "    session_id = secrets.token_urlsafe(32)",
    "password_reset_token_ttl = timedelta(hours=1)",
    'SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]',
    "api_key = os.getenv('OPENAI_API_KEY')",
    "token = request.headers.get('Authorization', '').removeprefix('Bearer ')",
    "client = boto3.client('s3', region_name='eu-west-1')",
    '    "lint": "eslint . --ext .ts,.tsx",',
    "import { createHash, randomBytes } from 'node:crypto';",
    "assert response.status_code == 200, response.text",
    "The access token expires after one hour; the refresh token after 30 days.",
    "Set GITHUB_TOKEN in the repository secrets before running the workflow.",
    "    - uses: actions/checkout@v4",
    "      with:",
    "        token: ${{ secrets.GITHUB_TOKEN }}",
    "    password: ${DB_PASSWORD}",
    "    api_key: <your-api-key>",
    "Authorization: Bearer ${ACCESS_TOKEN}",
    'curl -H "Authorization: Bearer $TOKEN" https://api.github.com/user',
    "docker run --rm -e POSTGRES_PASSWORD=$POSTGRES_PASSWORD postgres:16",
    "kubectl get secret db-credentials -o jsonpath='{.data.password}' | base64 -d",
    "The secret key is stored in AWS Secrets Manager under prod/api/stripe.",
]


def _neg_hashes(r: Rand) -> list[tuple[str, str]]:
    """Hard negatives: (text, kind)."""
    h = r.hex
    out = [
        (f"commit {h(40)}", "git-sha"),
        (f"Merge: {h(7)} {h(7)}", "git-sha"),
        (f"sha256:{h(64)}", "digest"),
        (f"{h(64)}  dist/app-1.4.2.tar.gz", "sha256sum"),
        (f"md5: {h(32)}", "md5"),
        (f'"request_id": "{r.uuid()}", "trace_id": "{h(32)}"', "uuid"),
        (f"image: ghcr.io/acme/api@sha256:{h(64)}", "digest"),
        (f'ETag: "{h(32)}"', "etag"),
        (f'  "integrity": "sha512-{r.b64(86)}==",', "lockfile"),
        (f'  resolved "https://registry.yarnpkg.com/lodash/-/lodash-4.17.21.tgz#{h(40)}"', "lockfile"),
        (f'    {{file = "requests-2.32.3-py3-none-any.whl", hash = "sha256:{h(64)}"}},', "lockfile"),
        (f'checksum = "{h(64)}"', "lockfile"),
        (f"golang.org/x/net v0.30.0 h1:{r.b64(43)}=", "lockfile"),
        (f"pod/api-{r.low(10)}-{r.low(5)} 1/1 Running 0 3d", "k8s"),
        (f'<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA{r.b64(400)}">', "base64-image"),
        (f'  "id": "{r.uuid()}",', "uuid"),
        (f"X-Request-Id: {r.uuid()}", "uuid"),
        (f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{r.b64(43)} deploy@ci", "public-key"),
        (f'"nonce": "{r.b64(22)}=="', "nonce"),
        (f"color: #{h(6)}; background: #{h(6)};", "css"),
    ]
    return out


EXAMPLE_NEGATIVES = [
    ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "cloud"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "cloud"),
    ("stripe.api_key = 'sk_test_4eC39HqLyjWDarjtT1zdp7dc'", "payments"),
    ("GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "source-hosting"),
    ("OPENAI_API_KEY=sk-...your-key...", "ai"),
    ("OPENAI_API_KEY=<your-openai-key>", "ai"),
    ("SLACK_BOT_TOKEN=xoxb-your-bot-token", "messaging"),
    ("DATABASE_URL=postgresql://user:password@localhost:5432/mydb", "databases"),
    ("REDIS_URL=redis://localhost:6379/0", "databases"),
    ("password: changeme", "generic"),
    ("api_key: YOUR_API_KEY_HERE", "generic"),
    ("token: ${{ secrets.NPM_TOKEN }}", "generic"),
    ('export ANTHROPIC_API_KEY="${ANTHROPIC_API_KEY}"', "ai"),
    ("Authorization: Basic <base64(user:password)>", "auth-urls"),
    ("-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----", "private-keys"),
    ("NPM_TOKEN=npm_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "registries"),
]


CONFIG_NEGATIVES = [
    "token_url: https://auth.corp.dev/oauth/token",
    "token_expires_at: 2026-11-21T04:22:13Z",
    'password_changed_at: "2026-01-02 10:11:12"',
    "api_key_version: v2.14.3",
    "secret_rotation_days: 90",
    '"prompt_tokens": 1234, "completion_tokens": 532, "total_tokens": 1766',
    "max_tokens=4096",
    "secretName: payments-db-credentials",
    "secret_key = var.secret_key",
    "apiKey: config.apiKey",
    "const password = await bcrypt.hash(plain, 12);",
    'api_key_header_name = "X-Api-Key"',
    'tokenizer: "cl100k_base"',
    "token_endpoint_auth_method: client_secret_basic",
    "password_reset_email: security@corp.dev",
    "access_key_id_ssm_path: /prod/app/aws/access_key_id",
    "secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
    "token_type: Bearer",
    "password_hash_algorithm: argon2id",
    "client_secret_expires_at: 0",
    "api_key_prefix: sk_live_",
    "credentials_file: ~/.aws/credentials",
    "WEBHOOK_SECRET_HEADER=X-Hub-Signature-256",
    "JWT_SECRET_KEY_FILE=/run/secrets/jwt",
    '"secret": "{{ .Values.secret }}",',
    "password: !vault |",
    "auth_token_ttl: 3600s",
    'csrf_token: "{% csrf_token %}"',
]


class Builder:
    def __init__(self, seed: int = SEED) -> None:
        self.r = Rand(seed)
        self.docs: dict[str, Doc] = {}
        self.labels: list[Label] = []

    def doc(self, name: str) -> Doc:
        return self.docs.setdefault(name, Doc(name))

    def positive(self, doc: Doc, text: str, family: str, rule: str, offset: int = 0) -> None:
        line = doc.add(text)
        self.labels.append(Label(doc.name, line + offset, family, rule, True))

    def negative(self, doc: Doc, text: str, family: str = "any") -> None:
        line = doc.add(text)
        self.labels.append(Label(doc.name, line, family, "", False))

    def _version(self) -> str:
        return f"{self.r.r.randint(1, 19)}.{self.r.r.randint(0, 9)}.{self.r.r.randint(0, 30)}"

    def filler(self, doc: Doc, n: int) -> None:
        for _ in range(n):
            doc.add(self.r.choice(FILLER_CODE))

    def secret(self, name: str) -> tuple[str, str, str, str]:
        family, rule, env, make = SECRETS[name]
        return family, rule, env, make(self.r)

    # -- files ---------------------------------------------------------------------------
    def env_file(self) -> None:
        doc = self.doc("app.env")
        doc.add("# generated by ops tooling; do not commit")
        for name in SECRETS:
            family, rule, env, value = self.secret(name)
            quote = self.r.choice(["", '"', "'"])
            self.positive(doc, f"{env}={quote}{value}{quote}", family, rule)
            if self.r.r.random() < 0.3:
                doc.add(f"{env.split('_')[0]}_REGION=eu-west-1")
        for text, family in EXAMPLE_NEGATIVES:
            self.negative(doc, text, family)

    def shell_history(self) -> None:
        doc = self.doc("bash_history.txt")
        templates = {
            "github-classic": "git clone https://{v}@github.com/acme/infra.git",
            "gitlab-pat": "curl --header 'PRIVATE-TOKEN: {v}' https://gitlab.corp.dev/api/v4/projects",
            "npm": "npm config set //registry.npmjs.org/:_authToken {v}",
            "dockerhub": "echo {v} | docker login -u acmeci --password-stdin",
            "stripe-live": "curl https://api.stripe.com/v1/customers -u {v}:",
            "openai-proj": "export OPENAI_API_KEY={v}",
            "anthropic": "ANTHROPIC_API_KEY={v} claude -p 'summarise the diff'",
            "slack-webhook": "curl -X POST -H 'Content-type: application/json' --data '{{\"text\":\"deployed\"}}' {v}",
            "postgres": "psql '{v}' -c 'select count(*) from orders'",
            "tailscale": "sudo tailscale up --authkey={v}",
            "huggingface": "huggingface-cli login --token {v}",
            "pypi": "twine upload -u __token__ -p {v} dist/*",
            "vault": "VAULT_TOKEN={v} vault kv get secret/prod/api",
            "terraform": "export TF_TOKEN_app_terraform_io={v}",
        }
        benign = [
            "ls -la",
            "git status",
            "git log --oneline -5",
            "kubectl get pods -n prod",
            "docker ps",
            "cd ~/src/api",
            "make test",
            "npm ci",
            "python -m pytest -q",
            "gh pr list",
            "export AWS_PROFILE=prod",
            "history | grep ssh",
        ]
        for _ in range(3):
            for name, template in templates.items():
                for _ in range(2):
                    doc.add(self.r.choice(benign))
                family, rule, _, value = self.secret(name)
                self.positive(doc, template.format(v=value), family, rule)
        self.negative(doc, "curl -u admin:$ADMIN_PASSWORD https://jenkins.corp.dev/api/json", "auth-urls")
        self.negative(doc, "mysql -u root -p shop", "databases")
        self.negative(doc, "git clone https://github.com/acme/api.git", "auth-urls")

    def yaml_config(self) -> None:
        doc = self.doc("config.yaml")
        doc.add("server:\n  port: 8080\n  read_timeout: 30s")
        for name in [
            "sendgrid",
            "stripe-webhook",
            "sentry",
            "grafana",
            "datadog",
            "mongodb",
            "redis",
            "amqp",
            "slack-bot",
            "figma",
            "linear",
            "hubspot",
            "doppler",
            "pulumi",
            "circleci",
            "sonar",
            "generic-password",
            "generic-api-key",
        ]:
            family, rule, env, value = self.secret(name)
            key = env.lower()
            doc.add(f"{key.split('_')[0]}:")
            self.positive(doc, f'  {key}: "{value}"', family, rule)
            doc.add("  enabled: true")
        self.negative(doc, "database:\n  password: ${DB_PASSWORD}", "generic")
        self.negative(doc, "auth:\n  client_secret: <client-secret>", "generic")
        self.negative(doc, "cache:\n  key_prefix: session_token_cache", "generic")
        for text, kind in _neg_hashes(self.r)[:8]:
            self.negative(doc, f"# {kind}: {text}")

    def tool_results(self) -> None:
        doc = self.doc("tool_results.jsonl")
        for i, name in enumerate(
            [
                "aws-key-id",
                "github-fine",
                "openai-legacy",
                "anthropic",
                "stripe-rk",
                "slack-bot",
                "jwt",
                "npm",
                "gcp-api-key",
                "azure-client-secret",
                "shopify",
                "notion",
                "groq",
                "xai",
                "age",
                "mysql",
            ]
        ):
            family, rule, env, value = self.secret(name)
            text = f"$ cat .env\\nNODE_ENV=production\\n{env}={value}\\nLOG_LEVEL=info\\n"
            obj = {
                "jsonrpc": "2.0",
                "id": i + 1,
                "result": {"content": [{"type": "text", "text": "PLACEHOLDER"}], "isError": False},
            }
            line = json.dumps(obj).replace("PLACEHOLDER", text)
            self.positive(doc, line, family, rule)
            benign = {
                "jsonrpc": "2.0",
                "id": 100 + i,
                "result": {
                    "content": [
                        {
                            "type": "text",
                            "text": f"commit {self.r.hex(40)}\nAuthor: dev <dev@acme.test>\n\n    fix: retry on 503",
                        }
                    ]
                },
            }
            self.negative(doc, json.dumps(benign), "any")
        # JSON text inside a JSON string (a read tool returning a config file): escaped quotes.
        for name in ["generic-password", "twilio-token", "generic-api-key", "datadog"]:
            family, rule, env, value = self.secret(name)
            inner = json.dumps({"service": "orders", env.lower(): value, "retries": 3})
            self.positive(
                doc,
                json.dumps({"jsonrpc": "2.0", "id": 200, "result": {"content": [{"type": "text", "text": inner}]}}),
                family,
                rule,
            )
        # A PEM key returned by a read tool, with escaped newlines inside the JSON string.
        pem = _pem(self.r, "OPENSSH PRIVATE KEY").replace("\n", "\\n")
        self.positive(
            doc,
            json.dumps({"jsonrpc": "2.0", "id": 77, "result": {"content": [{"type": "text", "text": "P"}]}}).replace(
                '"P"', '"' + pem + '"'
            ),
            "private-keys",
            "openssh-private-key",
        )

    def code(self) -> None:
        doc = self.doc("service.py")
        doc.add("import os\nimport stripe\nfrom openai import OpenAI\n")
        for name, template in {
            "stripe-live": 'stripe.api_key = "{v}"',
            "openai-proj": 'client = OpenAI(api_key="{v}")',
            "twilio-token": 'TWILIO_AUTH_TOKEN = "{v}"',
            "aws-secret": 'session = boto3.Session(aws_access_key_id=KEY_ID, aws_secret_access_key="{v}")',
            "generic-secret": 'app.config["SESSION_SECRET"] = "{v}"',
            "generic-token": 'INTERNAL_SERVICE_TOKEN = "{v}"',
            "postgres": 'engine = create_engine("{v}")',
            "jwt": 'headers = {{"Authorization": "Bearer {v}"}}',
            "sendgrid": 'sg = SendGridAPIClient("{v}")',
            "telegram": 'bot = telegram.Bot(token="{v}")',
        }.items():
            self.filler(doc, 3)
            family, rule, _, value = self.secret(name)
            self.positive(doc, template.format(v=value), family, rule)
        self.filler(doc, 20)
        js = self.doc("bundle.min.js")
        for _ in range(40):
            names = [self.r.s(string.ascii_letters, self.r.r.randint(1, 3)) for _ in range(12)]
            line = ";".join(
                f'function {n}(e,t){{return e.token=t.apiKey||"",e.secret=void 0,'
                f'e["{self.r.an(8)}"]=0x{self.r.hex(8)}}}'
                for n in names
            )
            self.negative(js, line + f";var _0x{self.r.hex(4)}=['{self.r.b64(24)}','{self.r.hex(32)}'];", "any")
        family, rule, _, value = self.secret("gcp-api-key")
        self.positive(
            js,
            f'!function(){{var e={{apiKey:"{value}",authDomain:"acme-prod.firebaseapp.com"}};init(e)}}();',
            family,
            rule,
        )

    def logs(self) -> None:
        doc = self.doc("server.log")
        levels = ["INFO", "DEBUG", "WARN"]
        for i in range(400):
            ts = f"2026-11-{10 + i // 100:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}.{self.r.digits(3)}Z"
            kind = i % 9
            if kind == 0:
                doc.add(
                    f"{ts} INFO http method=GET path=/v1/orders/{self.r.uuid()} status=200 "
                    f"dur_ms={self.r.r.randint(2, 900)}"
                )
            elif kind == 1:
                doc.add(f"{ts} DEBUG cache hit key=user:{self.r.digits(8)} etag={self.r.hex(32)}")
            elif kind == 2:
                doc.add(f"{ts} INFO deploy image=ghcr.io/acme/api@sha256:{self.r.hex(64)} rev={self.r.hex(40)}")
            elif kind == 3:
                doc.add(f"{ts} WARN retrying upstream=payments attempt={self.r.r.randint(1, 5)} trace={self.r.hex(32)}")
            elif kind == 4 and i % 36 == 4:
                name = self.r.choice(
                    [
                        "github-app",
                        "slack-bot",
                        "sendgrid",
                        "newrelic",
                        "vault",
                        "stripe-live",
                        "jwt",
                        "dynatrace",
                        "gitlab-pat",
                        "npm",
                        "rubygems",
                        "nuget",
                    ]
                )
                family, rule, _, value = self.secret(name)
                self.positive(
                    doc,
                    f"{ts} {self.r.choice(levels)} outbound request headers={{'Authorization': 'Bearer {value}'}}",
                    family,
                    rule,
                )
            else:
                doc.add(f"{ts} INFO worker job={self.r.low(12)} queue=default took={self.r.r.random():.3f}s")

    def lockfiles(self) -> None:
        lock = self.doc("package-lock.json")
        lock.add('{\n  "name": "web",\n  "lockfileVersion": 3,\n  "packages": {')
        for pkg in [
            "react",
            "react-dom",
            "lodash",
            "axios",
            "zod",
            "vite",
            "typescript",
            "eslint",
            "jsonwebtoken",
            "dotenv",
        ] * 8:
            lock.add(f'    "node_modules/{pkg}": {{\n      "version": "{self._version()}",')
            lock.add(f'      "resolved": "https://registry.npmjs.org/{pkg}/-/{pkg}-1.0.0.tgz",')
            self.negative(lock, f'      "integrity": "sha512-{self.r.b64(86)}==",', "any")
            lock.add('      "license": "MIT"\n    },')
        lock.add("  }\n}")
        poetry = self.doc("poetry.lock")
        for pkg in ["requests", "urllib3", "certifi", "idna", "charset-normalizer", "pydantic", "orjson"] * 6:
            poetry.add(f'[[package]]\nname = "{pkg}"\nversion = "{self._version()}"\nfiles = [')
            self.negative(
                poetry, f'    {{file = "{pkg}-2.0.0-py3-none-any.whl", hash = "sha256:{self.r.hex(64)}"}},', "any"
            )
            poetry.add("]\n")
        gosum = self.doc("go.sum")
        for mod in [
            "golang.org/x/net",
            "golang.org/x/sys",
            "github.com/stretchr/testify",
            "google.golang.org/grpc",
        ] * 10:
            self.negative(gosum, f"{mod} v0.{self.r.r.randint(1, 40)}.0 h1:{self.r.b64(43)}=", "any")
        cargo = self.doc("Cargo.lock")
        for crate in ["serde", "tokio", "regex", "hyper", "rand"] * 8:
            cargo.add(f'[[package]]\nname = "{crate}"\nversion = "1.0.{self.r.r.randint(0, 200)}"')
            cargo.add('source = "registry+https://github.com/rust-lang/crates.io-index"')
            self.negative(cargo, f'checksum = "{self.r.hex(64)}"', "any")

    def readme(self) -> None:
        doc = self.doc("README.md")
        doc.add("# Setup\n\nCopy `.env.example` to `.env` and fill in your keys:\n\n```sh")
        for text, family in EXAMPLE_NEGATIVES:
            self.negative(doc, text, family)
        doc.add("```\n\nNever commit real credentials. Rotate any key that leaks.\n")
        for _ in range(30):
            doc.add(
                self.r.choice(
                    [
                        "The gateway redacts tokens before they reach the model.",
                        "Use a fine-grained personal access token with read-only scope.",
                        "Passwords are hashed with argon2id; see docs/auth.md for parameters.",
                        "API keys are scoped per project and can be revoked from the dashboard.",
                        "Each webhook request carries an HMAC signature in the X-Signature header.",
                    ]
                )
            )

    def keys_and_certs(self) -> None:
        doc = self.doc("keys.txt")
        for label, rule in [
            ("RSA PRIVATE KEY", "private-key-rsa"),
            ("EC PRIVATE KEY", "private-key-ec"),
            ("PRIVATE KEY", "private-key-pkcs8"),
            ("OPENSSH PRIVATE KEY", "openssh-private-key"),
            ("ENCRYPTED PRIVATE KEY", "private-key-pkcs8-encrypted"),
            ("PGP PRIVATE KEY BLOCK", "pgp-private-key-block"),
        ]:
            doc.add(f"# {label.lower()} for the deploy host")
            self.positive(doc, _pem(self.r, label), "private-keys", rule)
            doc.add("")
            self.negative(doc, _pem(self.r, "CERTIFICATE"), "any")
            self.negative(doc, _pem(self.r, "PUBLIC KEY"), "any")
            doc.add("")

    def encoded(self) -> None:
        doc = self.doc("k8s.yaml")
        for name in ["github-classic", "stripe-live", "slack-bot", "openai-proj"]:
            family, rule, env, value = self.secret(name)
            doc.add(
                f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {env.lower().replace('_', '-')}-cfg\ndata:"
            )
            encoded = base64.b64encode(value.encode()).decode()
            self.positive(doc, f'  {env.lower()}_b64: "{encoded}"', family, rule)
            doc.add("  log_level: info")
        doc.add("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: images\ndata:")
        for _ in range(5):
            self.negative(doc, f'  logo.png: "iVBORw0KGgoAAAANSUhEUgAA{self.r.b64(300)}"', "any")
        for text, kind in _neg_hashes(self.r):
            self.negative(doc, f"# {kind}: {text}")

    def hard_negatives(self) -> None:
        """Lines built to trip the rules: wrong checksums, test fixtures, types, env reads, hashes near keywords."""
        doc = self.doc("fixtures_and_types.py")
        bad_gh = "ghp_" + self.r.an(36)  # 36 random characters: the CRC32 checksum almost surely fails
        bad_npm = "npm_" + self.r.an(36)
        texts = [
            (f'INVALID_TOKEN = "{bad_gh}"  # wrong checksum on purpose', "source-hosting"),
            (f'NOT_NPM = "{bad_npm}"', "registries"),
            ("aws_access_key_id = AKIA0189ABCDEF012345", "cloud"),
            ("password: SecretStr = Field(..., min_length=12)", "generic"),
            ("api_key: str | None = None", "generic"),
            ("token: OAuthToken | None = None", "generic"),
            ('api_key=os.environ["WEATHER_API_KEY"],', "generic"),
            ("const token = process.env.GITHUB_TOKEN ?? '';", "generic"),
            ("client_secret: ${{ secrets.AZURE_CLIENT_SECRET }}", "generic"),
            ("DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app", "databases"),
            ("MONGO_URI=mongodb://localhost:27017/test", "databases"),
            ("password = getpass.getpass('Password: ')", "generic"),
            ("secret_key_path = /etc/app/secret.key", "generic"),
            ("TOKEN_FILE=/var/run/secrets/kubernetes.io/serviceaccount/token", "generic"),
            ("export PWD=/home/dev/src/api", "generic"),
            ("import sklearn; from sklearn.model_selection import train_test_split  # sk-learn", "ai"),
            ("task-runner --retries 3 --backoff 2s", "any"),
            ("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjMifQ.", "jwt"),
            (f"eyJ{self.r.url(30)}.eyJ{self.r.url(40)}.{self.r.url(43)}", "jwt"),
            ("Authorization: Bearer <token>", "auth-urls"),
            ('curl -u "$USER:$PASS" https://api.corp.dev', "auth-urls"),
            (f'"tokenizer_config_sha": "{self.r.hex(40)}",', "generic"),
            (f'session_id = "{self.r.uuid()}"', "generic"),
            (f"commit_sha: {self.r.hex(40)}", "any"),
            (f'"password_hash": "$argon2id$v=19$m=65536,t=3,p=4${self.r.b64(22)}${self.r.b64(43)}"', "generic"),
            ("-----BEGIN CERTIFICATE REQUEST-----", "private-keys"),
            ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ" + self.r.b64(300) + " ops@bastion", "private-keys"),
            (f"sha512-{self.r.b64(86)}==", "any"),
            (f"const c = '#{self.r.hex(6)}', d = '{self.r.hex(32)}';", "any"),
            ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.", "any"),
        ]
        for _ in range(3):
            for text, family in texts:
                self.filler(doc, 1)
                self.negative(doc, text, family)

    def more_positives(self) -> None:
        """Secrets in less common shapes: compose lists, tfvars, npmrc, netrc, docker auths, headers, JDBC."""
        doc = self.doc("deploy_configs.txt")
        r = self.r
        user_pass = base64.b64encode(f"ci-bot:{r.password()}".encode()).decode()
        entries = [
            (f"      - POSTGRES_PASSWORD={r.password()}", "generic", "generic-password"),
            (f'tfe_token = "{SECRETS["terraform"][3](r)}"', "infrastructure", "terraform-cloud-token"),
            (f"//npm.corp.dev/:_authToken={r.uuid()}", "registries", "npmrc-auth-token"),
            (f"machine api.corp.dev login ci password {r.an(20)}", "auth-urls", "netrc-password"),
            (f'{{"auths": {{"registry.corp.dev": {{"auth": "{user_pass}"}}}}}}', "registries", "docker-config-auth"),
            (f"Authorization: Basic {user_pass}", "auth-urls", "http-basic-auth-header"),
            (
                f"curl -sS -u deploy:{r.password()} https://nexus.corp.dev/service/rest/v1/components",
                "auth-urls",
                "curl-user-credentials",
            ),
            (f"git clone https://oauth2:{r.an(24)}@git.corp.dev/acme/api.git", "auth-urls", "url-basic-auth"),
            (
                f"spring.datasource.url=jdbc:postgresql://db:5432/app?user=app&password={r.an(14)}",
                "databases",
                "jdbc-password",
            ),
            (
                f"Server=tcp:sql01.corp,1433;Database=erp;User ID=svc;Password={r.an(16)};Encrypt=True",
                "databases",
                "ado-connection-string-password",
            ),
            (f'twilio_auth_token: "{r.hex(32)}"', "messaging", "twilio-auth-token"),
            (f"DD_APP_KEY={r.hex(40)}", "observability", "datadog-app-key"),
            (f"HEROKU_API_KEY={r.uuid()}", "cloud", "heroku-api-key-legacy"),
            (f"CLOUDFLARE_API_TOKEN={r.url(40)}", "cloud", "cloudflare-api-token"),
            (f"LINODE_TOKEN={r.hex(64)}", "cloud", "linode-api-token"),
            (f"export MISTRAL_API_KEY={r.an(32)}", "ai", "mistral-api-key"),
            (f"COHERE_API_KEY={r.an(40)}", "ai", "cohere-api-key"),
            (f"PLAID_SECRET={r.hex(30)}", "payments", "plaid-secret"),
            (f"ROLLBAR_ACCESS_TOKEN={r.hex(32)}", "observability", "rollbar-access-token"),
            (
                f"https://acme.webhook.office.com/webhookb2/{r.uuid()}@{r.uuid()}/IncomingWebhook/{r.hex(32)}/{r.uuid()}",
                "messaging",
                "microsoft-teams-webhook-url",
            ),
            (
                f"SENTRY_DSN=https://{r.hex(32)}@o{r.digits(6)}.ingest.sentry.io/{r.digits(7)}",
                "observability",
                "sentry-dsn",
            ),
            (f"[Interface]\nPrivateKey = {r.b64(42)}A=", "infrastructure", "wireguard-private-key"),
            (f"Unseal Key 1: {r.b64(44)}", "infrastructure", "vault-unseal-key"),
            (
                f"docker swarm join --token SWMTKN-1-{r.low(50)}-{r.low(25)} 10.0.0.5:2377",
                "infrastructure",
                "docker-swarm-join-token",
            ),
            (f"FIREBASE_SERVER_KEY=AAAA{r.url(7)}:APA91b{r.url(134)}", "cloud", "firebase-cloud-messaging-server-key"),
        ]
        for text, family, rule in entries:
            self.filler(doc, 2)
            offset = text.count("\n") if rule == "wireguard-private-key" else 0
            self.positive(doc, text, family, rule, offset)
        # Keyword-gated values whose keyword sits on the line above: honest misses for the
        # provider rule, though a generic rule may still see the assignment.
        for _ in range(3):
            self.filler(doc, 2)
            doc.add("twilio:")
            self.positive(doc, f"  auth_token: {r.hex(32)}", "messaging", "twilio-auth-token")

    def app_config(self) -> None:
        """Config keys that name secrets but hold URLs, dates, counts, paths, ARNs or templates."""
        doc = self.doc("app_config.yaml")
        positives = [
            "generic-password",
            "generic-secret",
            "generic-api-key",
            "generic-token",
            "sendgrid",
            "stripe-webhook",
        ]
        for i, text in enumerate(CONFIG_NEGATIVES * 2):
            self.negative(doc, text, "generic")
            if i % 6 == 5:
                family, rule, env, value = self.secret(positives[(i // 6) % len(positives)])
                self.positive(doc, f"{env.lower()}: {value}", family, rule)

    def ci_pipelines(self) -> None:
        """CI files: secrets pasted into env blocks next to properly referenced ones."""
        doc = self.doc("ci.yml")
        r = self.r
        pasted = [
            ("CIRCLECI_TOKEN", f"CCIPAT_{r.an(22)}_{r.hex(40)}", "ci", "circleci-personal-token"),
            ("SONAR_TOKEN", "sqp_" + r.hex(40), "ci", "sonarqube-token"),
            ("BUILDKITE_API_TOKEN", "bkua_" + r.hex(40), "ci", "buildkite-agent-token"),
            ("SNYK_TOKEN", r.uuid(), "ci", "snyk-api-token"),
            ("CODECOV_TOKEN", r.uuid(), "ci", "codecov-upload-token"),
            ("OCTOPUS_API_KEY", "API-" + r.up(26), "ci", "octopus-deploy-api-key"),
            ("INFRACOST_API_KEY", "ico-" + r.an(32), "ci", "infracost-api-key"),
            ("HARNESS_API_KEY", f"pat.{r.url(22)}.{r.hex(24)}.{r.an(20)}", "ci", "harness-pat"),
            ("KUBE_TOKEN", _jwt(r), "jwt", "jwt"),
            ("SERVICE_JWT", _jwt(r), "jwt", "jwt"),
            ("NPM_TOKEN", r.checksum_token("npm_"), "registries", "npm-access-token"),
            ("GH_PAT", r.checksum_token("ghp_"), "source-hosting", "github-pat-classic"),
            ("SENTRY_AUTH_TOKEN", "sntryu_" + r.hex(64), "observability", "sentry-user-token"),
            ("DT_API_TOKEN", f"dt0c01.{r.up(24)}.{r.up(64)}", "observability", "dynatrace-api-token"),
            ("VAULT_TOKEN", "hvs.CAESI" + r.url(90), "infrastructure", "vault-service-token"),
        ]
        doc.add(
            "name: release\non:\n  push:\n    tags: ['v*']\njobs:\n  publish:\n    runs-on: ubuntu-latest\n    env:"
        )
        for env, value, family, rule in pasted:
            self.negative(doc, f"      {env}_REF: ${{{{ secrets.{env} }}}}", "any")
            self.positive(doc, f"      {env}: {value}", family, rule)
        doc.add("    steps:\n      - uses: actions/checkout@v4\n      - run: make release")
        self.negative(doc, '      - run: echo "${{ secrets.NPM_TOKEN }}" > ~/.npmrc', "any")
        self.positive(
            doc,
            f"      - run: git push https://ci-bot:{r.an(24)}@git.corp.dev/acme/api.git HEAD:main",
            "auth-urls",
            "url-basic-auth",
        )
        basic = base64.b64encode(f"ci:{r.password()}".encode()).decode()
        self.positive(
            doc,
            f"      - run: curl -fsS -H 'Authorization: Basic {basic}' https://nexus.corp.dev/repository/raw/",
            "auth-urls",
            "http-basic-auth-header",
        )
        self.positive(
            doc,
            f"      - run: curl -u 'deploy:{r.password()}' https://artifacts.corp.dev/upload",
            "auth-urls",
            "curl-user-credentials",
        )
        self.positive(
            doc,
            f"      - run: export HTTPS_PROXY=http://proxy:{r.an(16)}@proxy.corp.dev:3128",
            "auth-urls",
            "url-basic-auth",
        )

    def system_files(self) -> None:
        """Files a read tool might return: /etc/shadow, htpasswd, kubeconfig, AWS console CSV, shell history."""
        doc = self.doc("system_files.txt")
        r = self.r
        crypt = "./" + string.ascii_letters + string.digits
        doc.add("$ cat /etc/shadow\nroot:*:19876:0:99999:7:::\ndaemon:*:19000:0:99999:7:::")
        for user in ["deploy", "backup", "alice"]:
            self.positive(
                doc,
                f"{user}:$6${r.s(crypt, 16)}${r.s(crypt, 86)}:19876:0:99999:7:::",
                "password-hashes",
                "shadow-password-hash",
            )
        self.negative(doc, "nobody:!:19000:0:99999:7:::", "any")
        doc.add("$ cat /etc/nginx/.htpasswd")
        self.positive(doc, f"metrics:$apr1${r.an(8)}${r.s(crypt, 22)}", "password-hashes", "htpasswd-entry")
        doc.add("$ cat ~/.kube/config\napiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:")
        key = base64.b64encode(_pem(r, "RSA PRIVATE KEY").encode()).decode()
        self.positive(doc, f"    client-key-data: {key}", "private-keys", "kubeconfig-client-key-data")
        doc.add("$ cat ~/Downloads/ci-deployer_accessKeys.csv\nAccess key ID,Secret access key")
        kid = "AKIA" + r.s("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
        self.positive(doc, f"{kid},{r.b64(40)}", "cloud", "aws-credentials-csv")
        self.positive(doc, f"$ sshpass -p '{r.password()}' ssh deploy@10.0.3.7 uptime", "auth-urls", "sshpass-password")
        self.positive(
            doc, f"$ docker login -u ci -p {r.an(20)} registry.corp.dev", "auth-urls", "docker-login-password"
        )
        self.negative(doc, "$ docker login -u ci --password-stdin registry.corp.dev < token.txt", "any")

    def build(self) -> None:
        self.system_files()
        self.ci_pipelines()
        self.app_config()
        self.hard_negatives()
        self.more_positives()
        self.env_file()
        self.shell_history()
        self.yaml_config()
        self.tool_results()
        self.code()
        self.logs()
        self.lockfiles()
        self.readme()
        self.keys_and_certs()
        self.encoded()


def generate(outdir: Path, seed: int = SEED) -> list[Label]:
    """Write the corpus into ``outdir`` and return its labels (also written to labels.json)."""
    builder = Builder(seed)
    builder.build()
    outdir.mkdir(parents=True, exist_ok=True)
    for doc in builder.docs.values():
        (outdir / doc.name).write_text("\n".join(doc.lines) + "\n", encoding="utf-8")
    (outdir / "labels.json").write_text(json.dumps([asdict(label) for label in builder.labels], indent=1) + "\n")
    return builder.labels


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: generate.py OUTDIR")
    labels = generate(Path(sys.argv[1]))
    print(f"{len(labels)} labels written to {sys.argv[1]}")
