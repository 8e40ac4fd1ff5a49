// `ecom provision --alarms`: the CloudWatch alarms on the metrics --cloudwatch publishes, and their SNS topic.
import { DescribeAlarmsCommand, PutMetricAlarmCommand, type MetricAlarm, type PutMetricAlarmCommandInput } from "@aws-sdk/client-cloudwatch";
import { CreateTopicCommand, ListTopicsCommand, SNSClient } from "@aws-sdk/client-sns";
import type { Config } from "../config/types.ts";
import { cloudwatchClient } from "../cloudwatch.ts";
import type { SchemaStep } from "../store/types.ts";

/** Alarms evaluate minutes: CloudWatch takes periods of 10, 30 or a multiple of 60 s, and the metrics come every interval. */
const PERIOD_S = 60;
const CONSUMERS = ["order", "payment", "analytics", "dlq"] as const;
const STORING = ["order", "payment"] as const;

type Alarm = PutMetricAlarmCommandInput;

/** Every alarm provision keeps, from the settings. */
export function alarmDefinitions(config: Readonly<Config>, topicArn: string | null): Alarm[] {
  const ns = config.cloudwatch.namespace;
  const { deadLetters, latencyP99Ms, outboxPeriods } = config.cloudwatch.alarms;
  const actions = topicArn ? { AlarmActions: [topicArn], OKActions: [topicArn] } : { AlarmActions: [], OKActions: [] };
  const common = { Period: PERIOD_S, TreatMissingData: "notBreaching" as const, ...actions };
  const role = (r: string) => [{ Name: "Role", Value: r }];
  return [
    {
      AlarmName: `${ns}-dead-letters-pending`,
      AlarmDescription: `More than ${deadLetters} dead letters pending (GET /dlq; raise --alarm-dead-letters to move the line)`,
      Namespace: ns, MetricName: "DeadLettersPending", Dimensions: role("dlq"), Statistic: "Maximum",
      EvaluationPeriods: 1, Threshold: deadLetters, ComparisonOperator: "GreaterThanThreshold", ...common,
    },
    ...CONSUMERS.map((r): Alarm => ({
      AlarmName: `${ns}-failed-${r}`,
      AlarmDescription: `The ${r} role failed batches (store or broker errors; they are redelivered): see its logs`,
      Namespace: ns, MetricName: "Failed", Dimensions: role(r), Statistic: "Sum",
      EvaluationPeriods: 1, Threshold: 0, ComparisonOperator: "GreaterThanThreshold", ...common,
    })),
    {
      AlarmName: `${ns}-outbox-pending-growing`,
      AlarmDescription: `Outbox pending grew in each of ${outboxPeriods} consecutive minutes: the broker takes less than is produced`,
      Metrics: [
        { Id: "pending", MetricStat: { Metric: { Namespace: ns, MetricName: "OutboxPending" }, Period: PERIOD_S, Stat: "Maximum" }, ReturnData: false },
        { Id: "growth", Expression: "DIFF(pending)", Label: "OutboxPending growth", ReturnData: true },
      ],
      EvaluationPeriods: outboxPeriods, DatapointsToAlarm: outboxPeriods, Threshold: 0, ComparisonOperator: "GreaterThanThreshold", ...common,
    },
    ...STORING.map((r): Alarm => ({
      AlarmName: `${ns}-latency-p99-${r}`,
      AlarmDescription: `The ${r} role's produce-to-store p99 latency is above ${latencyP99Ms} ms (--alarm-latency-p99)`,
      Namespace: ns, MetricName: "LatencyP99", Dimensions: role(r), Statistic: "Maximum", Unit: "Milliseconds",
      EvaluationPeriods: 3, DatapointsToAlarm: 3, Threshold: latencyP99Ms, ComparisonOperator: "GreaterThanThreshold", ...common,
    })),
  ];
}

/** The fields provision sets, as comparable JSON: an existing alarm equal on them is left alone. */
function shape(a: Alarm | MetricAlarm): string {
  const metrics = (a.Metrics ?? []).map((m) => ({
    Id: m.Id, Expression: m.Expression, Label: m.Expression ? m.Label : undefined, ReturnData: m.ReturnData,
    MetricStat: m.MetricStat && { Namespace: m.MetricStat.Metric?.Namespace, MetricName: m.MetricStat.Metric?.MetricName, Dimensions: m.MetricStat.Metric?.Dimensions ?? [], Period: m.MetricStat.Period, Stat: m.MetricStat.Stat },
  }));
  return JSON.stringify({
    Description: a.AlarmDescription, Namespace: a.Namespace, MetricName: a.MetricName, Dimensions: a.Dimensions ?? [], Statistic: a.Statistic,
    Period: a.Metrics?.length ? undefined : a.Period, EvaluationPeriods: a.EvaluationPeriods, DatapointsToAlarm: a.DatapointsToAlarm ?? undefined,
    Threshold: a.Threshold, ComparisonOperator: a.ComparisonOperator, TreatMissingData: a.TreatMissingData,
    AlarmActions: a.AlarmActions ?? [], OKActions: a.OKActions ?? [], Metrics: metrics,
  });
}

/** The alarm topic's ARN: given as an ARN, or a name created on SNS (CreateTopic is idempotent; ListTopics says which). */
async function alarmTopic(config: Readonly<Config>, steps: SchemaStep[]): Promise<string | null> {
  const topic = config.cloudwatch.alarms.topic;
  if (!topic) return null;
  if (topic.startsWith("arn:")) return topic;
  const sns = new SNSClient({ region: config.aws.region, endpoint: config.aws.snsEndpoint });
  try {
    let existed = false;
    let token: string | undefined;
    do {
      const page = await sns.send(new ListTopicsCommand({ NextToken: token }));
      existed ||= (page.Topics ?? []).some((t) => t.TopicArn?.endsWith(`:${topic}`));
      token = page.NextToken;
    } while (token && !existed);
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: topic }));
    steps.push({ action: existed ? "exists" : "created", resource: `sns topic ${topic} (alarm actions)` });
    return TopicArn!;
  } finally {
    sns.destroy();
  }
}

/** Creates the alarms that are missing, updates those that differ from the settings, and says which. */
export async function provisionAlarms(config: Readonly<Config>): Promise<SchemaStep[]> {
  const steps: SchemaStep[] = [];
  const topicArn = await alarmTopic(config, steps);
  const wanted = alarmDefinitions(config, topicArn);
  const client = cloudwatchClient(config);
  try {
    const existing = new Map<string, MetricAlarm>();
    // DescribeAlarms takes at most 100 names.
    for (let i = 0; i < wanted.length; i += 100) {
      const names = wanted.slice(i, i + 100).map((a) => a.AlarmName!);
      const res = await client.send(new DescribeAlarmsCommand({ AlarmNames: names, AlarmTypes: ["MetricAlarm"] }));
      for (const a of res.MetricAlarms ?? []) existing.set(a.AlarmName!, a);
    }
    for (const alarm of wanted) {
      const have = existing.get(alarm.AlarmName!);
      const resource = `cloudwatch alarm ${alarm.AlarmName}`;
      if (have && shape(have) === shape(alarm)) {
        steps.push({ action: "exists", resource });
        continue;
      }
      await client.send(new PutMetricAlarmCommand(alarm));
      steps.push({ action: have ? "updated" : "created", resource });
    }
    return steps;
  } finally {
    client.destroy();
  }
}
