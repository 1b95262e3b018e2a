// The one place the UI imports third-party code from: every component imports from here, and
// this folder alone pins the versions (see README.md beside this file).
import { createContext, Fragment, h, render } from "./preact.js";
import { useCallback, useContext, useEffect, useId, useMemo, useRef, useState } from "./hooks.js";
import htm from "./htm.js";

export const html = htm.bind(h);
export {
  createContext,
  Fragment,
  h,
  render,
  useCallback,
  useContext,
  useEffect,
  useId,
  useMemo,
  useRef,
  useState,
};
