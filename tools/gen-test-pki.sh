#!/usr/bin/env bash
# Generates a throwaway test PKI for the insurer link into a directory
# (default build/pki): the test CA, the insurer's server certificate, the
# hospital's client certificate, and a second unrelated CA with its own client
# and server certificates (for "a certificate from another CA is refused").
# Idempotent: an existing, readable set that is valid for another day is kept.
# Private keys live only in that directory, which is under build/ and ignored
# by git; never commit them.
set -euo pipefail

dir="${1:-build/pki}"
days=3650
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"
# Test programs started in parallel may all call this: one generates, the
# others wait and then find the set complete.
exec 9>.lock
flock 9

files=(ca.crt ca.key server.crt server.key client.crt client.key
       other-ca.crt other-ca.key other-server.crt other-server.key other-client.crt other-client.key)

complete=1
for f in "${files[@]}"; do
  [ -s "$f" ] || { complete=0; break; }
done
if [ "$complete" -eq 1 ]; then
  for c in ca server client other-ca other-server other-client; do
    openssl x509 -in "$c.crt" -noout -checkend 86400 >/dev/null 2>&1 || { complete=0; break; }
  done
fi
if [ "$complete" -eq 1 ] &&
   openssl verify -CAfile ca.crt server.crt client.crt >/dev/null 2>&1 &&
   openssl verify -CAfile other-ca.crt other-server.crt other-client.crt >/dev/null 2>&1; then
  echo "gen-test-pki: $(pwd) already holds a valid test PKI"
  exit 0
fi

umask 077
tmp="$(mktemp -d .gen.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

newkey() {  # newkey <file>: an EC P-256 key
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

make_ca() {  # make_ca <name> <subject>
  newkey "$tmp/$1.key"
  openssl req -x509 -new -key "$tmp/$1.key" -sha256 -days "$days" -subj "$2" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$tmp/$1.crt"
}

make_leaf() {  # make_leaf <name> <ca> <subject> <extensions>
  newkey "$tmp/$1.key"
  openssl req -new -key "$tmp/$1.key" -subj "$3" -out "$tmp/$1.csr"
  printf '%b' "$4" > "$tmp/$1.ext"
  openssl x509 -req -in "$tmp/$1.csr" -CA "$tmp/$2.crt" -CAkey "$tmp/$2.key" \
    -CAcreateserial -CAserial "$tmp/$2.srl" -sha256 -days "$days" \
    -extfile "$tmp/$1.ext" -out "$tmp/$1.crt" 2>/dev/null
}

server_ext='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:insurer.test,DNS:localhost,IP:127.0.0.1\n'
client_ext='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'

make_ca ca "/C=CN/O=Settle Test Insurer/CN=Settle Test Insurer CA"
make_leaf server ca "/C=CN/O=Settle Test Insurer/CN=insurer.test" "$server_ext"
make_leaf client ca "/C=CN/O=Settle Test Hospital/CN=H11010500001" "$client_ext"

make_ca other-ca "/C=CN/O=Unrelated Test Org/CN=Unrelated Test CA"
make_leaf other-server other-ca "/C=CN/O=Unrelated Test Org/CN=insurer.test" "$server_ext"
make_leaf other-client other-ca "/C=CN/O=Unrelated Test Org/CN=H11010500001" "$client_ext"

openssl verify -CAfile "$tmp/ca.crt" "$tmp/server.crt" "$tmp/client.crt" >/dev/null
openssl verify -CAfile "$tmp/other-ca.crt" "$tmp/other-server.crt" "$tmp/other-client.crt" >/dev/null

for f in "${files[@]}"; do
  mv -f "$tmp/$f" "$f"
done
chmod 600 ./*.key
chmod 644 ./*.crt
echo "gen-test-pki: wrote a test PKI to $(pwd)"
