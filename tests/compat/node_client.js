// The official notifications-node-client against the local stack: every public method the API serves.
// Reads the functional-test fixtures' environment; prints 'N passed, 0 failed' or exits non-zero.
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { NotifyClient } = require('./node/node_modules/notifications-node-client');

const env = process.env;
const base = env.NOTIFY_API_URL;
// The keys as upstream's fixtures write them: API_KEY and INBOUND_SMS_QUERY_KEY are the service's test key,
// API_SENDING_KEY its live key; API_TEAM_KEY is ours, for the team-key rules.
const test = new NotifyClient(base, env.API_KEY);
const live = new NotifyClient(base, env.API_SENDING_KEY);
const inbound = new NotifyClient(base, env.INBOUND_SMS_QUERY_KEY);
const team = new NotifyClient(base, env.API_TEAM_KEY);
const EMAIL_BODY = 'Functional test help make our world a better place';
let checks = 0;
const check = (actual, expected, what) => { assert.deepStrictEqual(actual, expected, what); checks += 1; };
const ok = (value, what) => { assert.ok(value, what); checks += 1; };

const NOTIFICATION_KEYS = ['body', 'completed_at', 'cost_details', 'cost_in_pounds', 'created_at', 'created_by_name',
  'email_address', 'id', 'is_cost_data_ready', 'line_1', 'line_2', 'line_3', 'line_4', 'line_5', 'line_6',
  'one_click_unsubscribe_url', 'phone_number', 'postage', 'postcode', 'reference', 'scheduled_for', 'sent_at', 'status',
  'subject', 'template', 'type'];

async function main() {
  const sms = (await test.sendSms(env.SMS_TEMPLATE_ID, env.FUNCTIONAL_TEST_NUMBER, {
    personalisation: { name: 'Node' }, reference: `node sms ref ${Date.now()}`, smsSenderId: env.SMS_SENDER_ID,
  })).data;
  check(Object.keys(sms).sort(), ['content', 'id', 'reference', 'scheduled_for', 'template', 'uri'], 'sms keys');
  check(sms.content, { body: 'Hello Node\n\nFunctional Tests make our world a better place', from_number: 'func tests' }, 'sms content');
  check(sms.uri, `${base}/v2/notifications/${sms.id}`, 'sms uri');

  const email = (await test.sendEmail(env.EMAIL_TEMPLATE_ID, env.FUNCTIONAL_TEST_EMAIL, {
    personalisation: { name: 'Node' }, reference: 'node-email', emailReplyToId: env.EMAIL_REPLY_TO_ID,
    oneClickUnsubscribeURL: 'https://example.gov.uk/unsub', sanitiseContentFor: ['name'],
  })).data;
  check(email.content.subject, 'Functional Tests are good', 'email subject');
  check(email.content.body, `Hello Node\r\n\r\n${EMAIL_BODY}`, 'email body keeps \\r\\n');
  check(email.content.one_click_unsubscribe_url, 'https://example.gov.uk/unsub', 'unsubscribe');
  check(email.sanitised_content, {}, 'nothing needed sanitising');

  // sanitise_content_for, upstream's example: the link target goes, brackets and parentheses are escaped.
  const unsafe = 'Anne Example, now [click this evil link](https://evil.link)';
  const sanitised = 'Anne Example, now \\[click this evil link\\]\\(\\)';
  const clean = (await test.sendEmail(env.EMAIL_TEMPLATE_ID, env.FUNCTIONAL_TEST_EMAIL, {
    personalisation: { name: unsafe }, sanitiseContentFor: ['name'],
  })).data;
  check(clean.sanitised_content, { name: { unsanitised: unsafe, sanitised } }, 'sanitised_content');
  check(clean.content.body, `Hello ${sanitised}\r\n\r\n${EMAIL_BODY}`, 'sanitised body');
  check((await test.getNotificationById(clean.id)).data.body, clean.content.body, 'sanitised body read back');

  // Key types: a test key's notifications are test ones; a letter is accepted with the test key, refused with a team key.
  const testListed = (await test.getNotifications('email')).data.notifications.map((n) => n.id);
  ok(testListed.includes(email.id), 'test key lists its own');
  const liveListed = (await live.getNotifications('email')).data.notifications.map((n) => n.id);
  ok(!liveListed.includes(email.id), 'test notifications hidden from the live key');
  const testLetter = (await test.sendLetter(env.LETTER_TEMPLATE_ID, {
    personalisation: { address_line_1: 'Test Key', address_line_2: '2 Test Road', postcode: 'E1 8QS' },
  })).data;
  check(testLetter.content.body, 'Hello Test Key', 'letter accepted with the test key (API_KEY)');
  try {
    await team.sendLetter(env.LETTER_TEMPLATE_ID, {
      personalisation: { address_line_1: 'Team', address_line_2: '2 Test Road', postcode: 'E1 8QS' },
    });
    assert.fail('team key letter');
  } catch (e) {
    check(e.response && e.response.status, 403, 'team key letter refused');
    check(e.response.data.errors, [{ error: 'BadRequestError', message: 'Cannot send letters with a team api key' }], 'team key message');
  }

  const letter = (await live.sendLetter(env.LETTER_TEMPLATE_ID, {
    personalisation: { address_line_1: 'Node Client', address_line_2: '2 Test Road', postcode: 'E1 8QS' }, reference: 'node-letter',
  })).data;
  check(letter.content, { body: 'Hello Node Client', subject: 'Main heading' }, 'letter content');

  // A real letter (clean A4, its address in the window, written by the fixtures): it waits for the virus scan,
  // then the print checks read the address from it and it goes on like any letter.
  const pdf = fs.readFileSync(env.PRECOMPILED_LETTER_PDF);
  const pre = (await live.sendPrecompiledLetter('node-precompiled', pdf)).data;
  check(Object.keys(pre).sort(), ['id', 'postage', 'reference'], 'precompiled keys');
  check(pre.postage, 'second', 'default postage');
  let scanned = (await live.getNotificationById(pre.id)).data;
  const deadline = Date.now() + 60000;
  while (scanned.status === 'pending-virus-check') {
    // Not scanned yet: no PDF. Once the scan passed the PDF is served even before the checks finish, so a PDF
    // here must already be the one uploaded.
    try {
      const early = Buffer.from(await live.getPdfForLetterNotification(pre.id));
      ok(Buffer.compare(early, pdf) === 0, 'PDF served once scanned is the one uploaded');
    } catch (e) {
      if (!e.response) throw e;
      check(e.response.status, 400, 'pdf not ready status while pending virus check');
      check(e.response.data.errors[0].error, 'PDFNotReadyError', 'PDFNotReadyError while pending virus check');
    }
    ok(Date.now() < deadline, 'precompiled letter left pending-virus-check within 60 s');
    await new Promise((resolve) => setTimeout(resolve, 500));
    scanned = (await live.getNotificationById(pre.id)).data;
  }
  // Past the scan and the checks: created (or printed) is `accepted`, delivered `received`; never validation-failed.
  ok(['accepted', 'received'].includes(scanned.status), `precompiled letter passed its scan and checks: ${scanned.status}`);
  check([scanned.line_1, scanned.line_2, scanned.line_3, scanned.postcode], ['Ms A Smith', '1 High Street', 'London', 'SW1A 1AA'],
    'address read from the PDF');
  const back = await live.getPdfForLetterNotification(pre.id);
  ok(Buffer.compare(Buffer.from(back), pdf) === 0, 'PDF byte-for-byte');

  for (const [client, n, type] of [[test, sms, 'sms'], [test, email, 'email'], [live, letter, 'letter']]) {
    const got = (await client.getNotificationById(n.id)).data;
    const keys = type === 'letter' ? [...NOTIFICATION_KEYS, 'estimated_delivery'].sort() : NOTIFICATION_KEYS;
    check(Object.keys(got).sort(), keys, `${type} notification keys`);
    check(got.type, type, 'type');
    check(got.body, n.content.body, `${type} body read back`);
  }

  // The stack renders the letter within moments: PDFNotReadyError until then, the PDF after.
  let rendered = null;
  for (let i = 0; i < 40 && rendered === null; i += 1) {
    try {
      rendered = Buffer.from(await live.getPdfForLetterNotification(letter.id));
    } catch (e) {
      check(e.response.status, 400, 'pdf not ready status');
      check(e.response.data.errors[0].error, 'PDFNotReadyError', 'pdf not ready error');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  ok(rendered !== null && rendered.subarray(0, 4).toString() === '%PDF', 'templated letter rendered to a PDF');
  try {
    await test.sendSms('00000000-0000-0000-0000-000000000000', env.FUNCTIONAL_TEST_NUMBER);
    assert.fail('unknown template');
  } catch (e) {
    check(e.response.data, { status_code: 400, errors: [{ error: 'BadRequestError', message: 'Template not found' }] }, 'error envelope');
  }

  const list = (await test.getNotifications('sms', 'accepted', sms.reference)).data;
  check(list.notifications.map((n) => n.id), [sms.id], 'filtered list (reference with a space)');
  ok(list.links.next.includes(`older_than=${sms.id}`), 'links.next');
  const page = (await test.getNotifications(undefined, undefined, undefined, sms.id)).data;
  ok(page.notifications.every((n) => n.id !== sms.id), 'older_than pages');

  const tpl = (await test.getTemplateById(env.SMS_TEMPLATE_ID)).data;
  check(tpl.name, 'Client Functional test sms template', 'template name');
  check((await test.getTemplateByIdAndVersion(env.SMS_TEMPLATE_ID, 1)).data.name, 'Example text message template', 'version 1');
  const all = (await test.getAllTemplates()).data.templates;
  ok(all.some((t) => t.id === env.LETTER_TEMPLATE_ID), 'all templates');
  check((await test.getAllTemplates('letter')).data.templates.map((t) => t.type), ['letter'], 'templates by type');
  const preview = (await test.previewTemplateById(env.SMS_TEMPLATE_ID, { name: 'Preview' })).data;
  check(preview.body, 'Hello Preview\n\nFunctional Tests make our world a better place', 'preview body');
  check(preview.html, null, 'no html for sms');
  check((await test.getTemplateById(env.EMAIL_TEMPLATE_ID)).data.body, `Hello ((name))\r\n\r\n${EMAIL_BODY}`, 'email template body keeps \\r\\n');
  const emailPreview = (await test.previewTemplateById(env.EMAIL_TEMPLATE_ID, { name: 'Preview' })).data;
  check(emailPreview.body, `Hello Preview\r\n\r\n${EMAIL_BODY}`, 'email preview body keeps \\r\\n');

  const texts = (await inbound.getReceivedTexts()).data;
  ok(texts.received_text_messages.length >= 3, 'received texts');
  check(Object.keys(texts.received_text_messages[0]).sort(), ['content', 'created_at', 'id', 'notify_number', 'service_id', 'user_number'], 'received text keys');
  const older = (await inbound.getReceivedTexts(texts.received_text_messages[0].id)).data;
  ok(Array.isArray(older.received_text_messages), 'received texts older_than');

  // Files by email, as the client's own integration suite sends them: a PDF and a CSV through prepareUpload, the
  // link read from the notification's body, the page fetched, the address confirmed where asked, the file downloaded.
  const LINK = /(https?:\/\/\S+\/d\/[0-9a-f-]{36}\/[0-9a-f-]{36}\?key=[A-Za-z0-9_-]+)/;
  const PDF = Buffer.from('%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n');
  const CSV = Buffer.from('name,reference\nNode,1\nClient,2\n');
  for (const [client, data, filename, confirm, contentType] of [
    [live, PDF, 'node.pdf', false, 'application/pdf'],
    [test, CSV, 'node.csv', undefined, 'text/csv'],
  ]) {
    const options = confirm === undefined ? { filename } : { filename, confirmEmailBeforeDownload: confirm };
    const sent = (await client.sendEmail(env.EMAIL_TEMPLATE_ID, env.FUNCTIONAL_TEST_EMAIL, {
      personalisation: { name: client.prepareUpload(data, options) },
    })).data;
    const found = LINK.exec((await client.getNotificationById(sent.id)).data.body);
    ok(found, `${filename}: a download link in the email`);
    const link = found[1];
    ok(sent.content.body.includes(link), `${filename}: the same link in the 201`);
    const download = link.replace('?key=', '/download?key=');
    const page = await fetch(link);
    check(page.status, 200, `${filename}: the page`);
    check(page.headers.get('referrer-policy'), 'no-referrer', `${filename}: no referrer`);
    const html = await page.text();
    let cookie;
    if (confirm === false) {
      ok(html.includes(filename), `${filename}: the page names the file`);
    } else {
      ok(html.includes('Confirm your email address') && !html.includes(filename), `${filename}: address asked first`);
      const form = (address) => fetch(link, {
        method: 'POST', body: new URLSearchParams({ email_address: address }),
      });
      const wrong = await form('someone.else@example.com');
      check(wrong.status, 400, `${filename}: wrong address refused`);
      ok((await wrong.text()).includes('This is not the email address the file was sent to.'), `${filename}: wrong address message`);
      check((await fetch(download, { redirect: 'manual' })).status, 303, `${filename}: no download before the address`);
      const right = await form(` ${env.FUNCTIONAL_TEST_EMAIL.toUpperCase()} `);
      check(right.status, 200, `${filename}: right address`);
      ok((await right.text()).includes(filename), `${filename}: the file shown after the address`);
      cookie = right.headers.get('set-cookie').split(';')[0];
    }
    const got = await fetch(download, { headers: cookie ? { cookie } : {} });
    check(got.status, 200, `${filename}: downloaded`);
    check(Buffer.from(await got.arrayBuffer()).equals(data), true, `${filename}: the bytes sent`);
    check(got.headers.get('content-type'), contentType, `${filename}: type`);
    ok(got.headers.get('content-disposition').includes(`filename="${filename}"`), `${filename}: name`);
    check((await fetch(`${link.split('?key=')[0]}?key=${'A'.repeat(43)}`)).status, 404, `${filename}: a wrong key gets 404`);
  }

  console.log(`${checks} passed, 0 failed`);
}

main().catch((e) => {
  console.error(e.response ? JSON.stringify(e.response.data) : e);
  console.log('0 passed, 1 failed');
  process.exit(1);
});
