/**
 * The parsed descriptor of `cohort.proto` (protobufjs JSON form), which the codec
 * loads. It is embedded rather than read from disk so the compiled build (which
 * copies only .ts → .js) and bundles work without the .proto beside them.
 * `test/unit/codec.test.ts` checks it equals the parsed `cohort.proto`: after
 * editing the .proto, regenerate the object below with
 *
 *   npx tsx -e "import p from 'protobufjs'; import {readFileSync as r} from 'node:fs'; console.log(JSON.stringify(p.parse(r('proto/cohort.proto','utf8')).root.toJSON(), null, 2))"
 */
import type { INamespace } from 'protobufjs/light.js';

export const COHORT_SCHEMA: INamespace = {
  "nested": {
    "cohort": {
      "nested": {
        "Envelope": {
          "oneofs": {
            "body": {
              "oneof": [
                "memberHeartbeat",
                "leaderHeartbeat",
                "heartbeatAck",
                "data",
                "voteRequest",
                "voteReply",
                "leave",
                "timeoutNow",
                "pollRequest",
                "ballot",
                "memberVote",
                "pollResult"
              ]
            }
          },
          "fields": {
            "version": {
              "type": "uint32",
              "id": 1
            },
            "group": {
              "type": "string",
              "id": 2
            },
            "from": {
              "type": "string",
              "id": 3
            },
            "incarnation": {
              "type": "uint64",
              "id": 4
            },
            "term": {
              "type": "uint64",
              "id": 5
            },
            "to": {
              "type": "string",
              "id": 6
            },
            "memberHeartbeat": {
              "type": "MemberHeartbeat",
              "id": 10
            },
            "leaderHeartbeat": {
              "type": "LeaderHeartbeat",
              "id": 11
            },
            "heartbeatAck": {
              "type": "HeartbeatAck",
              "id": 12
            },
            "data": {
              "type": "GroupData",
              "id": 13
            },
            "voteRequest": {
              "type": "VoteRequest",
              "id": 14
            },
            "voteReply": {
              "type": "VoteReply",
              "id": 15
            },
            "leave": {
              "type": "Leave",
              "id": 16
            },
            "timeoutNow": {
              "type": "TimeoutNow",
              "id": 17
            },
            "pollRequest": {
              "type": "PollRequest",
              "id": 18
            },
            "ballot": {
              "type": "Ballot",
              "id": 19
            },
            "memberVote": {
              "type": "MemberVote",
              "id": 20
            },
            "pollResult": {
              "type": "PollResult",
              "id": 21
            }
          }
        },
        "PollKind": {
          "values": {
            "POLL_KIND_UNSPECIFIED": 0,
            "POLL_KIND_MAJORITY": 1,
            "POLL_KIND_CONSENSUS": 2
          }
        },
        "PollSubject": {
          "values": {
            "POLL_SUBJECT_UNSPECIFIED": 0,
            "POLL_SUBJECT_VALUE": 1,
            "POLL_SUBJECT_ACTION": 2
          }
        },
        "PollOutcome": {
          "values": {
            "POLL_OUTCOME_UNSPECIFIED": 0,
            "POLL_OUTCOME_YES": 1,
            "POLL_OUTCOME_NO": 2,
            "POLL_OUTCOME_TIMEOUT": 3
          }
        },
        "DataChannel": {
          "values": {
            "DATA_CHANNEL_UNSPECIFIED": 0,
            "DATA_CHANNEL_GROUP": 1,
            "DATA_CHANNEL_TO_LEADER": 2,
            "DATA_CHANNEL_FROM_LEADER": 3
          }
        },
        "TimerSettings": {
          "fields": {
            "heartbeat": {
              "type": "uint32",
              "id": 1
            },
            "electionMin": {
              "type": "uint32",
              "id": 2
            },
            "electionMax": {
              "type": "uint32",
              "id": 3
            },
            "peerTimeout": {
              "type": "uint32",
              "id": 4
            },
            "consensusTimeout": {
              "type": "uint32",
              "id": 5
            }
          }
        },
        "VoterConfig": {
          "fields": {
            "term": {
              "type": "uint64",
              "id": 1
            },
            "version": {
              "type": "uint64",
              "id": 2
            },
            "voters": {
              "rule": "repeated",
              "type": "string",
              "id": 3
            }
          }
        },
        "MemberHeartbeat": {
          "fields": {
            "timers": {
              "type": "TimerSettings",
              "id": 1
            },
            "minSize": {
              "type": "uint32",
              "id": 2
            },
            "sentAt": {
              "type": "double",
              "id": 3
            },
            "leader": {
              "type": "string",
              "id": 4
            },
            "endpoint": {
              "type": "string",
              "id": 5
            }
          }
        },
        "VoteRequest": {
          "fields": {
            "preVote": {
              "type": "bool",
              "id": 1
            },
            "electionTerm": {
              "type": "uint64",
              "id": 2
            },
            "configTerm": {
              "type": "uint64",
              "id": 3
            },
            "configVersion": {
              "type": "uint64",
              "id": 4
            },
            "proposedVoters": {
              "rule": "repeated",
              "type": "string",
              "id": 5
            },
            "transfer": {
              "type": "bool",
              "id": 6
            }
          }
        },
        "VoteReply": {
          "fields": {
            "preVote": {
              "type": "bool",
              "id": 1
            },
            "electionTerm": {
              "type": "uint64",
              "id": 2
            },
            "granted": {
              "type": "bool",
              "id": 3
            }
          }
        },
        "LeaderHeartbeat": {
          "fields": {
            "config": {
              "type": "VoterConfig",
              "id": 1
            },
            "committedVersion": {
              "type": "uint64",
              "id": 2
            },
            "endpoint": {
              "type": "string",
              "id": 3
            },
            "timers": {
              "type": "TimerSettings",
              "id": 4
            },
            "minSize": {
              "type": "uint32",
              "id": 5
            },
            "sentAt": {
              "type": "double",
              "id": 6
            }
          }
        },
        "HeartbeatAck": {
          "fields": {
            "configTerm": {
              "type": "uint64",
              "id": 1
            },
            "configVersion": {
              "type": "uint64",
              "id": 2
            },
            "accepted": {
              "type": "bool",
              "id": 3
            }
          }
        },
        "Leave": {
          "fields": {}
        },
        "TimeoutNow": {
          "fields": {}
        },
        "GroupData": {
          "fields": {
            "channel": {
              "type": "DataChannel",
              "id": 1
            },
            "payload": {
              "type": "bytes",
              "id": 2
            },
            "sentAt": {
              "type": "double",
              "id": 3
            }
          }
        },
        "PollRequest": {
          "fields": {
            "ballotId": {
              "type": "string",
              "id": 1
            },
            "topic": {
              "type": "bytes",
              "id": 2
            },
            "kind": {
              "type": "PollKind",
              "id": 3
            },
            "subject": {
              "type": "PollSubject",
              "id": 4
            },
            "when": {
              "type": "double",
              "id": 5
            },
            "timeoutMs": {
              "type": "double",
              "id": 6
            }
          }
        },
        "Ballot": {
          "fields": {
            "ballotId": {
              "type": "string",
              "id": 1
            },
            "topic": {
              "type": "bytes",
              "id": 2
            },
            "kind": {
              "type": "PollKind",
              "id": 3
            },
            "subject": {
              "type": "PollSubject",
              "id": 4
            },
            "when": {
              "type": "double",
              "id": 5
            },
            "timeoutMs": {
              "type": "double",
              "id": 6
            },
            "requester": {
              "type": "string",
              "id": 7
            },
            "voters": {
              "rule": "repeated",
              "type": "string",
              "id": 8
            },
            "remainingMs": {
              "type": "double",
              "id": 9
            }
          }
        },
        "MemberVote": {
          "fields": {
            "ballotId": {
              "type": "string",
              "id": 1
            },
            "yes": {
              "type": "bool",
              "id": 2
            },
            "reason": {
              "type": "string",
              "id": 3
            }
          }
        },
        "Refusal": {
          "fields": {
            "member": {
              "type": "string",
              "id": 1
            },
            "reason": {
              "type": "string",
              "id": 2
            }
          }
        },
        "Tally": {
          "fields": {
            "yes": {
              "type": "uint32",
              "id": 1
            },
            "no": {
              "type": "uint32",
              "id": 2
            },
            "voters": {
              "type": "uint32",
              "id": 3
            }
          }
        },
        "PollResult": {
          "fields": {
            "ballotId": {
              "type": "string",
              "id": 1
            },
            "requester": {
              "type": "string",
              "id": 2
            },
            "outcome": {
              "type": "PollOutcome",
              "id": 3
            },
            "kind": {
              "type": "PollKind",
              "id": 4
            },
            "subject": {
              "type": "PollSubject",
              "id": 5
            },
            "when": {
              "type": "double",
              "id": 6
            },
            "tally": {
              "type": "Tally",
              "id": 7
            },
            "reason": {
              "type": "string",
              "id": 8
            },
            "refusals": {
              "rule": "repeated",
              "type": "Refusal",
              "id": 9
            },
            "topic": {
              "type": "bytes",
              "id": 10
            }
          }
        }
      }
    }
  }
};
