export interface FeedbackEntry {
  feedback: unknown;
  at: number;
}

/** Users' feedback on tasks (e.g. the candidate they chose), kept with the task and deleted with it. */
export interface Feedback {
  /** Records a user's feedback on a task. False when no task. */
  addFeedback(taskId: string, entry: FeedbackEntry): Promise<boolean>;
  /** A task's feedback, in the order it was given. */
  listFeedback(taskId: string): Promise<FeedbackEntry[]>;
}
