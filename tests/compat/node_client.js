// The official notifications-node-client against the local stack: every public method the API serves.
// Reads the functional-test fixtures' environment; prints 'N passed, 0 failed' or exits non-zero.
'use strict';
const assert = require('node:assert/strict');
const { NotifyClient } = require('./node/node_modules/notifications-node-client');

const env = process.env;
const base = env.NOTIFY_API_URL;
const team = new NotifyClient(base, env.API_KEY);
const live = new NotifyClient(base, env.API_SENDING_KEY);
const inbound = new NotifyClient(base, env.INBOUND_SMS_QUERY_KEY);
let checks = 0;
const check = (actual, expected, what) => { assert.deepStrictEqual(actual, expected, what); checks += 1; };
const ok = (value, what) => { assert.ok(value, what); checks += 1; };

const NOTIFICATION_KEYS = ['body', 'completed_at', 'cost_details', 'cost_in_pounds', 'created_at', 'created_by_name',
  'email_address', 'id', 'is_cost_data_ready', 'line_1', 'line_2', 'line_3', 'line_4', 'line_5', 'line_6',
  'one_click_unsubscribe_url', 'phone_number', 'postage', 'postcode', 'reference', 'scheduled_for', 'sent_at', 'status',
  'subject', 'template', 'type'];

async function main() {
  const sms = (await team.sendSms(env.SMS_TEMPLATE_ID, env.FUNCTIONAL_TEST_NUMBER, {
    personalisation: { name: 'Node' }, reference: `node sms ref ${Date.now()}`, smsSenderId: env.SMS_SENDER_ID,
  })).data;
  check(Object.keys(sms).sort(), ['content', 'id', 'reference', 'scheduled_for', 'template', 'uri'], 'sms keys');
  check(sms.content, { body: 'Hello Node\n\nFunctional Tests make our world a better place', from_number: 'func tests' }, 'sms content');
  check(sms.uri, `${base}/v2/notifications/${sms.id}`, 'sms uri');

  const email = (await team.sendEmail(env.EMAIL_TEMPLATE_ID, env.FUNCTIONAL_TEST_EMAIL, {
    personalisation: { name: 'Node' }, reference: 'node-email', emailReplyToId: env.EMAIL_REPLY_TO_ID,
    oneClickUnsubscribeURL: 'https://example.gov.uk/unsub', sanitiseContentFor: ['name'],
  })).data;
  check(email.content.subject, 'Functional Tests are good', 'email subject');
  check(email.content.one_click_unsubscribe_url, 'https://example.gov.uk/unsub', 'unsubscribe');
  check(email.sanitised_content, {}, 'nothing needed sanitising');

  const letter = (await live.sendLetter(env.LETTER_TEMPLATE_ID, {
    personalisation: { address_line_1: 'Node Client', address_line_2: '2 Test Road', postcode: 'E1 8QS' }, reference: 'node-letter',
  })).data;
  check(letter.content, { body: 'Hello Node Client', subject: 'Main heading' }, 'letter content');

  const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from([0, 255, 1, 254]), Buffer.from('\n%%EOF')]);
  const pre = (await live.sendPrecompiledLetter('node-precompiled', pdf)).data;
  check(Object.keys(pre).sort(), ['id', 'postage', 'reference'], 'precompiled keys');
  check(pre.postage, 'second', 'default postage');
  const back = await live.getPdfForLetterNotification(pre.id);
  ok(Buffer.compare(Buffer.from(back), pdf) === 0, 'PDF byte-for-byte');

  for (const [client, n, type] of [[team, sms, 'sms'], [team, email, 'email'], [live, letter, 'letter']]) {
    const got = (await client.getNotificationById(n.id)).data;
    const keys = type === 'letter' ? [...NOTIFICATION_KEYS, 'estimated_delivery'].sort() : NOTIFICATION_KEYS;
    check(Object.keys(got).sort(), keys, `${type} notification keys`);
    check(got.type, type, 'type');
    check(got.body, n.content.body, `${type} body read back`);
  }

  try {
    await live.getPdfForLetterNotification(letter.id);
    assert.fail('templated letter PDF is not ready');
  } catch (e) {
    check(e.response.status, 400, 'pdf not ready status');
    check(e.response.data.errors[0].error, 'PDFNotReadyError', 'pdf not ready error');
  }
  try {
    await team.sendSms('00000000-0000-0000-0000-000000000000', env.FUNCTIONAL_TEST_NUMBER);
    assert.fail('unknown template');
  } catch (e) {
    check(e.response.data, { status_code: 400, errors: [{ error: 'BadRequestError', message: 'Template not found' }] }, 'error envelope');
  }

  const list = (await team.getNotifications('sms', 'accepted', sms.reference)).data;
  check(list.notifications.map((n) => n.id), [sms.id], 'filtered list (reference with a space)');
  ok(list.links.next.includes(`older_than=${sms.id}`), 'links.next');
  const page = (await team.getNotifications(undefined, undefined, undefined, sms.id)).data;
  ok(page.notifications.every((n) => n.id !== sms.id), 'older_than pages');

  const tpl = (await team.getTemplateById(env.SMS_TEMPLATE_ID)).data;
  check(tpl.name, 'Client Functional test sms template', 'template name');
  check((await team.getTemplateByIdAndVersion(env.SMS_TEMPLATE_ID, 1)).data.name, 'Example text message template', 'version 1');
  const all = (await team.getAllTemplates()).data.templates;
  ok(all.some((t) => t.id === env.LETTER_TEMPLATE_ID), 'all templates');
  check((await team.getAllTemplates('letter')).data.templates.map((t) => t.type), ['letter'], 'templates by type');
  const preview = (await team.previewTemplateById(env.SMS_TEMPLATE_ID, { name: 'Preview' })).data;
  check(preview.body, 'Hello Preview\n\nFunctional Tests make our world a better place', 'preview body');
  check(preview.html, null, 'no html for sms');

  const texts = (await inbound.getReceivedTexts()).data;
  ok(texts.received_text_messages.length >= 1, 'received texts');
  check(Object.keys(texts.received_text_messages[0]).sort(), ['content', 'created_at', 'id', 'notify_number', 'service_id', 'user_number'], 'received text keys');
  const older = (await inbound.getReceivedTexts(texts.received_text_messages[0].id)).data;
  ok(Array.isArray(older.received_text_messages), 'received texts older_than');

  console.log(`${checks} passed, 0 failed`);
}

main().catch((e) => {
  console.error(e.response ? JSON.stringify(e.response.data) : e);
  console.log('0 passed, 1 failed');
  process.exit(1);
});
