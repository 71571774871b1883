/**
 * Private Dovecot and Postfix configurations for one stack instance. Nothing is read from /etc/dovecot or
 * /etc/postfix, so the system packages' configuration (or its absence) never matters.
 */
import * as fs from 'node:fs';
import type { StackPorts } from './ports';

export const MAIL_DOMAIN = 'example.test';

export interface StackLayout {
	dir: string;
	certFile: string;
	keyFile: string;
	dovecotConfigFile: string;
	dovecotOAuthFile: string;
	dovecotBaseDir: string;
	dovecotStateDir: string;
	dovecotLog: string;
	postfixConfigDir: string;
	postfixQueueDir: string;
	postfixDataDir: string;
	postfixLog: string;
	oauthLog: string;
	mailDir: string;
	oauthKeysDir: string;
}

export interface DovecotSettings {
	layout: StackLayout;
	ports: StackPorts;
	instanceName: string;
	issuer: string;
	mailUser: string;
	mailUid: number;
	plainPassword: string;
}

/** Dovecot's DH parameters shipped by dovecot-core; only used for non-ECDHE ciphers. */
const DOVECOT_DH_FILE = '/usr/share/dovecot/dh.pem';

export function renderDovecotConfig(settings: DovecotSettings): string {
	const { layout, ports } = settings;
	return `# Written by test/stack for one test stack instance; regenerated on every start.
instance_name = ${settings.instanceName}
base_dir = ${layout.dovecotBaseDir}
state_dir = ${layout.dovecotStateDir}
log_path = ${layout.dovecotLog}
info_log_path = ${layout.dovecotLog}
listen = 127.0.0.1
protocols = imap pop3 lmtp
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = ${settings.mailUid}
last_valid_uid = ${settings.mailUid}

ssl = yes
ssl_cert = <${layout.certFile}
ssl_key = <${layout.keyFile}
${fs.existsSync(DOVECOT_DH_FILE) ? `ssl_dh = <${DOVECOT_DH_FILE}` : ''}
# Plain ports exist for tests that compare with password-only clients; every OAuth test uses TLS.
disable_plaintext_auth = no

auth_mechanisms = plain login xoauth2 oauthbearer
# Failed logins answer at once: negative tests stay fast.
auth_failure_delay = 0
auth_verbose = yes
auth_cache_size = 0

passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = ${layout.dovecotOAuthFile}
}
# A fixed password for PLAIN/LOGIN, to compare with n8n's password-only built-in mail nodes on the same server.
passdb {
  driver = static
  mechanisms = plain login
  args = password=${settings.plainPassword}
}
# Every user@${MAIL_DOMAIN} exists: tests take a fresh random mailbox without provisioning anything.
userdb {
  driver = static
  args = uid=${settings.mailUser} gid=${settings.mailUser} home=${layout.mailDir}/%Ld/%Ln allow_all_users=yes
}

mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
}

# Room for a few hundred sessions at once (the scale benchmark runs 200 triggers on 200 mailboxes in one n8n).
# Dovecot's default of 100 processes per service caps IMAP at 100 sessions: each session is one imap process, and
# each TLS session keeps its imap-login process as the TLS proxy. Connections of every login and mail process to
# anvil, auth, config and log count against those services' client_limit.
default_process_limit = 512
default_client_limit = 4096
# IDLE learns of new mail through inotify, but the kernel allows 128 inotify instances per UID on the whole machine
# (fs.inotify.max_user_instances; every stack's mail processes run as the same vmail user). Past that Dovecot logs
# "Inotify instance limit ... exceeded, disabling" and those sessions only check every mailbox_idle_check_interval:
# 30 s by default, which made the 200-trigger benchmark's slowest emits ~30 s late for both triggers compared.
# Gmail's IDLE has no such delay; 1 s keeps it small.
mailbox_idle_check_interval = 1 secs

protocol imap {
  # Gmail allows about 15 simultaneous IMAP connections per account.
  mail_max_userip_connections = 15
}
protocol lmtp {
  postmaster_address = postmaster@${MAIL_DOMAIN}
}

service imap-login {
  process_limit = 512
  inet_listener imap {
    address = 127.0.0.1
    port = ${ports.imap}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${ports.imaps}
    ssl = yes
  }
}
service pop3-login {
  process_limit = 512
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${ports.pop3}
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = ${ports.pop3s}
    ssl = yes
  }
}
service imap {
  process_limit = 512
}
service pop3 {
  process_limit = 512
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = ${ports.lmtp}
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
# No per-IP penalty after failed logins (2-15 s delays would make negative tests slow).
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`;
}

export function renderDovecotOAuthConfig(layout: StackLayout, issuer: string): string {
	// Local validation: Dovecot checks signature, expiry and issuer itself, so a login never waits on the token
	// server. The public key lives at <keysDir>/default/RS256/<kid>.
	return `introspection_mode = local
local_validation_key_dict = fs:posix:prefix=${layout.oauthKeysDir}/
username_attribute = email
issuers = ${issuer}
`;
}

export function renderPostfixMainCf(layout: StackLayout, ports: StackPorts): string {
	return `# Written by test/stack for one test stack instance; regenerated on every start.
compatibility_level = 3.6
queue_directory = ${layout.postfixQueueDir}
data_directory = ${layout.postfixDataDir}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
# This machine has no syslog: Postfix logs to a file through postlogd.
maillog_file = ${layout.postfixLog}
maillog_file_prefixes = ${layout.dir}

myhostname = mail.${MAIL_DOMAIN}
mydomain = ${MAIL_DOMAIN}
myorigin = $mydomain
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relayhost =
smtpd_banner = $myhostname ESMTP test stack
biff = no
append_dot_mydomain = no
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
delay_warning_time = 0
message_size_limit = 36700160

# Every address @${MAIL_DOMAIN} goes to Dovecot over LMTP; nothing can leave the machine.
virtual_mailbox_domains = ${MAIL_DOMAIN}
virtual_mailbox_maps =
virtual_transport = lmtp:inet:127.0.0.1:${ports.lmtp}
default_transport = error:5.7.1 no external delivery from the test stack
relay_transport = error:5.7.1 no external delivery from the test stack
local_transport = error:5.7.1 no local delivery in the test stack

smtpd_tls_cert_file = ${layout.certFile}
smtpd_tls_key_file = ${layout.keyFile}
smtpd_tls_security_level = may
smtpd_sasl_type = dovecot
smtpd_sasl_path = ${layout.dovecotBaseDir}/auth-postfix
smtpd_sasl_auth_enable = no
# Postfix's default 2048 breaks XOAUTH2 once a token passes about 1.5 KB.
line_length_limit = 16384
`;
}

export function renderPostfixMasterCf(ports: StackPorts): string {
	const authenticated = [
		'-o smtpd_sasl_auth_enable=yes',
		'-o smtpd_client_restrictions=permit_sasl_authenticated,reject',
		'-o smtpd_relay_restrictions=permit_sasl_authenticated,reject',
		'-o smtpd_recipient_restrictions=permit_sasl_authenticated,reject',
	].join(' ');
	// Written from scratch: Debian's master.cf chroots the daemons, which a private queue directory cannot support.
	return `# service type  private unpriv  chroot  wakeup  maxproc command + args
# Plain SMTP without authentication: how tests deliver mail into mailboxes (like mail arriving from the internet).
127.0.0.1:${ports.smtp} inet n - n - - smtpd -o syslog_name=postfix/smtp -o smtpd_relay_restrictions=reject_unauth_destination
# 587-style submission: STARTTLS required before AUTH.
127.0.0.1:${ports.submission} inet n - n - - smtpd -o syslog_name=postfix/submission -o smtpd_tls_security_level=encrypt -o smtpd_tls_auth_only=yes ${authenticated}
# 465-style submission: implicit TLS.
127.0.0.1:${ports.smtps} inet n - n - - smtpd -o syslog_name=postfix/smtps -o smtpd_tls_wrappermode=yes ${authenticated}
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;
}

export interface DovecotVariantSettings {
	/** The stack's own dovecot.conf: the variant includes it, so accounts, mail, OAuth2 and TLS are the same. */
	baseConfigFile: string;
	instanceName: string;
	baseDir: string;
	stateDir: string;
	log: string;
	/** Its only listener: implicit-TLS IMAP on 127.0.0.1 (plain IMAP, POP3 and LMTP stay with the stack's Dovecot). */
	imapsPort: number;
	/** Dovecot's `imap_capability`: replaces the CAPABILITY list it announces (the commands keep working). */
	imapCapability?: string;
}

/**
 * A second Dovecot over the same mail, for tests that need a server announcing other capabilities (e.g. without
 * UIDPLUS or MOVE). It includes the stack's configuration and overrides only its own instance, directories, log,
 * listeners and, when given, `imap_capability` (a later setting wins in Dovecot's configuration).
 */
export function renderDovecotVariantConfig(settings: DovecotVariantSettings): string {
	return `# Written by test/stack for a variant of one test stack's Dovecot; regenerated on every start.
!include ${settings.baseConfigFile}
instance_name = ${settings.instanceName}
base_dir = ${settings.baseDir}
state_dir = ${settings.stateDir}
log_path = ${settings.log}
info_log_path = ${settings.log}
protocols = imap
service imap-login {
  process_limit = 512
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${settings.imapsPort}
    ssl = yes
  }
}
${
	settings.imapCapability === undefined
		? ''
		: `protocol imap {
  imap_capability = ${settings.imapCapability}
}
`
}`;
}
