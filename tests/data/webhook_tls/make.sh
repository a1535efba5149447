#!/bin/sh
# Makes the test CA and the server certificate the webhook client's HTTPS tests use
# (src/voice/webhook/tests.rs): a CA, and a certificate for DNS name "localhost" only (so
# https://127.0.0.1 fails its name check), both valid for 100 years. Run from this folder.
set -eu
openssl ecparam -name prime256v1 -genkey -noout -out ca.key
openssl req -x509 -new -key ca.key -sha256 -days 36500 -subj "/CN=sipmap test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem
openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out localhost.key
openssl req -new -key localhost.key -subj "/CN=localhost" -out localhost.csr
printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' > ext.cnf
openssl x509 -req -in localhost.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 36500 -sha256 \
    -extfile ext.cnf -out localhost.pem
rm -f localhost.csr ext.cnf ca.srl ca.key
