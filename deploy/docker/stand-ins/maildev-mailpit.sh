#!/bin/sh
# `/mailpit readyz`: exit 0 once the SMTP port answers with its greeting; anything else runs MailDev.
if [ "${1:-}" = readyz ]; then
  exec node -e "
    const s = require('node:net').connect(1025, '127.0.0.1');
    s.setTimeout(2000, () => process.exit(1));
    s.once('data', (d) => process.exit(String(d).startsWith('220') ? 0 : 1));
    s.once('error', () => process.exit(1));"
fi
exec maildev --smtp 1025 --web 8025 --ip 0.0.0.0 "$@"
